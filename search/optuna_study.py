"""`OptunaSearcher`: a hashtune searcher driving a private in-memory Optuna study (ask/tell).

Each searcher keeps a private in-memory Optuna study and drives it with Optuna's own ask/tell:
`ask` → `study.ask()` → `suggest_dna` (only active decision points are suggested, named by their
full PyGlove path, see `optuna_space`); `tell` → `study.tell` (CACHED results are told exactly like
evaluated ones; FAILED → `TrialState.FAIL`, PRUNED → `TrialState.PRUNED`). Many proposals may be
outstanding: TPE uses `constant_liar`, GP its running-trial acquisition, and every searcher re-asks
(telling the discarded Optuna trial FAIL) when the sampler repeats a DNA that is pending or known.
`restore` rebuilds the study from the store's history with `create_trial` + `add_trial`; peers'
finished trials are added the same way (`observe`), their in-flight ones as RUNNING trials
(`set_pending`), which constant liar and GP treat as pending. A warm start the study serves
(`note_served`) goes through Optuna's `enqueue_trial`, so the sampler sees it as an asked trial.
The DNA asked, told and in flight at peers are booked in a shared `ProposalBook`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import TrialState as OptunaState

from hashtune.search.base import Feedback, Proposal, Searcher, StoredProposal, is_finite
from hashtune.search.book import ProposalBook, proposal_key
from hashtune.search.ops import Deduped, RandomDNA
from hashtune.search.optuna_restore import FlatEncoder, TrialTemplate
from hashtune.search.optuna_space import (
    CUSTOM_ATTR_PREFIX,
    Encoded,
    encode_dna,
    grid_in_space,
    suggest_genome,
)
from hashtune.spaces.base import Genome, Space
from hashtune.vocabulary import SCORED_STATES, Direction, TrialState

SamplerArg = BaseSampler | Callable[[int], BaseSampler] | None

#: Optuna trial user attribute marking trials discarded because they repeated a known DNA.
DISCARDED_ATTR = "hashtune_discarded"


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO logs and experimental warnings for the private study."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        logger.setLevel(level)


def _optuna_state(feedback: Feedback) -> tuple[OptunaState, list[float] | None]:
    if feedback.state in SCORED_STATES:
        if feedback.values is not None and is_finite(feedback.values):
            return OptunaState.COMPLETE, [float(v) for v in feedback.values]
        return OptunaState.FAIL, None  # No usable values: the model must not see it.
    if feedback.state == TrialState.PRUNED:
        return OptunaState.PRUNED, None
    if feedback.state == TrialState.FAILED:
        return OptunaState.FAIL, None
    raise ValueError(
        f"`feedback.state` must be COMPLETE/CACHED/FAILED/PRUNED, got {feedback.state!r}"
    )


class OptunaSearcher(Searcher):
    """A hashtune searcher driving a private Optuna study with `sampler` through ask/tell.

    `sampler` is a `BaseSampler`, or a factory `seed -> BaseSampler` (lets `restore` reseed it);
    None means Optuna's `RandomSampler`.
    """

    name = "optuna"

    #: Re-asks when the sampler repeats a pending or known DNA, before a random unseen DNA.
    max_dedup_tries: int = 8

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = (Direction.MAXIMIZE,),
        seed: int = 0,
        sampler: SamplerArg = None,
    ):
        super().__init__(space, directions, seed)
        if sampler is not None and not (isinstance(sampler, BaseSampler) or callable(sampler)):
            raise ValueError(f"`sampler` must be an Optuna sampler or a factory, got {sampler!r}")
        self._sampler_arg = sampler
        self._pending: dict[int, optuna.trial.Trial] = {}
        self._pending_keys: dict[int, str] = {}  # DNA key of each proposal asked here
        self.book = ProposalBook(space)  # DNA asked, told, and in flight at peers
        self._told: set[int] = set()
        self._peer_running: dict[int, int] = {}  # peer's trial number -> Optuna trial number
        self.num_discarded = 0
        #: Set when the sampler asked its study to stop (it has proposed every point).
        self.sampler_stopped = False
        self.study = self._new_study(seed)

    def make_sampler(self, seed: int) -> BaseSampler:
        """The Optuna sampler for a study seeded with `seed` (subclasses build theirs)."""
        arg = self._sampler_arg
        if arg is None:
            return optuna.samplers.RandomSampler(seed=seed)
        return arg if isinstance(arg, BaseSampler) else arg(seed)

    def _new_study(self, seed: int) -> optuna.Study:
        try:
            sampler = grid_in_space(self.make_sampler(seed), self.space, seed)
        except TypeError as e:  # Unknown sampler kwargs from an experiment file.
            raise ValueError(f"searcher {self.name!r}: bad sampler arguments: {e}") from e
        self._storage = optuna.storages.InMemoryStorage()
        with quiet_optuna():
            study = optuna.create_study(
                storage=self._storage, directions=list(self.directions), sampler=sampler
            )
        self._study_id = self._storage.get_study_id_from_name(study.study_name)
        return study

    def _tell(self, trial: Any, **kwargs: Any) -> None:
        """`study.tell`; a sampler that calls `study.stop()` when it has seen every point
        (BruteForceSampler) is let be: the trial is finished before its hook runs."""
        try:
            self.study.tell(trial, **kwargs)
        except RuntimeError as e:
            if "Study.stop" not in str(e):
                raise
            self.sampler_stopped = True

    # ---- ask -------------------------------------------------------------------------------
    def ask(self, number: int) -> Proposal:
        """Propose a DNA from the sampler, re-asking while it repeats a pending or known DNA."""
        if number in self._pending:
            raise ValueError(f"trial `number` {number} already has a pending proposal")
        with quiet_optuna():
            for attempt in range(self.max_dedup_tries + 1):
                # Last attempt: a random unbooked DNA, through Optuna's queue (proposed as asked).
                forced = attempt == self.max_dedup_tries and self._enqueue_random_unseen()
                trial = self.study.ask()
                dna = suggest_genome(self.space, trial, seed=self.seed)  # no pg.DNA built
                key = self.space.dna_key(dna)  # once: booked here, reused by `tell`
                book = self.book
                if forced or not (key in book.seen or key in book.peer_keys) or book.exhausted():
                    break
                trial.set_user_attr(DISCARDED_ATTR, "repeat")
                self._tell(trial, state=OptunaState.FAIL)
                self.num_discarded += 1
        self._pending[number] = trial
        self._pending_keys[number] = key
        book.count += 1
        book.seen.add(key)
        return self.make_proposal(number, dna)

    def note_served(self, proposal: Proposal) -> None:
        """A warm start served by the study: asked through `enqueue_trial`, so the sampler sees
        it as one of its trials (pending until told)."""
        if proposal.number in self._pending:
            raise ValueError(f"trial `number` {proposal.number} already has a pending proposal")
        with quiet_optuna():
            self._enqueue_params(proposal.genome)
            trial = self.study.ask()
            suggest_genome(self.space, trial, seed=self.seed)  # the params of the queued DNA
        self._pending[proposal.number] = trial
        self.book.record(proposal)

    def _enqueue_random_unseen(self) -> bool:
        """Queue a random DNA that is not booked (64 draws at most); whether one was queued."""
        child = Deduped(RandomDNA(), tries=64)(None, self)
        if self.book.known(child.genome):
            return False
        self._enqueue_params(child.genome)
        return True

    def _enqueue_params(self, dna: Genome) -> None:
        enc = encode_dna(self.space, dna)
        attrs = {CUSTOM_ATTR_PREFIX + k: v for k, v in enc.custom.items()}
        self.study.enqueue_trial(enc.params, user_attrs=attrs or None)

    # ---- tell ------------------------------------------------------------------------------
    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        """Tell the Optuna study the outcome of `proposal` (CACHED counts like COMPLETE)."""
        if proposal.number in self._told:
            raise ValueError(f"proposal {proposal.number} was already told")
        self._check_values(feedback)
        state, values = _optuna_state(feedback)
        pending = self._pending.pop(proposal.number, None)
        with quiet_optuna():
            if pending is None:  # Not asked by this study (e.g. after a restart): add it whole.
                self._add_finished(proposal.genome, state, values)
            else:
                self._tell(pending, values=values, state=state)
        self._told.add(proposal.number)
        key = self._pending_keys.pop(proposal.number, None)
        self.book.seen.add(key if key is not None else proposal_key(proposal, self.space))

    def _check_values(self, feedback: Feedback) -> None:
        if feedback.values is not None and len(feedback.values) != len(self.directions):
            raise ValueError(
                f"`feedback.values` {feedback.values!r} must have one value per direction "
                f"{self.directions!r}"
            )

    def _add_finished(self, dna: Genome, state: OptunaState, values: list[float] | None) -> None:
        self._add_trial(dna, state, values)

    def _add_trial(self, dna: Genome, state: OptunaState, values: list[float] | None) -> int:
        """Add `dna` to the private study as a trial in `state`; its Optuna trial number."""
        return self._add_encoded(encode_dna(self.space, dna), state, values)

    def _add_encoded(self, enc: Encoded, state: OptunaState, values: list[float] | None) -> int:
        """Add one encoded trial: the template built directly (`create_trial` builds a trial and
        validates it, half a resume's cost; params come from their distributions, values are
        finite floats with COMPLETE and None otherwise, see `_optuna_state`)."""
        attrs = {CUSTOM_ATTR_PREFIX + k: v for k, v in enc.custom.items()}
        template = TrialTemplate.make(state, values, enc.params, enc.distributions, attrs)
        trial_id = self._storage.create_new_trial(self._study_id, template_trial=template)
        return self._storage.get_trial_number_from_id(trial_id)

    # ---- peers -----------------------------------------------------------------------------
    def observe(self, proposal: Proposal, feedback: Feedback) -> None:
        """Learn a peer's finished trial: finish its running stand-in, or add it finished."""
        running = self._peer_running.pop(proposal.number, None)
        if running is None:
            self.tell(proposal, feedback)
            return
        self._check_values(feedback)
        state, values = _optuna_state(feedback)
        with quiet_optuna():
            self._tell(running, values=values, state=state)
        self._told.add(proposal.number)
        self.book.seen.add(proposal_key(proposal, self.space))

    def set_pending(self, proposals: Sequence[Proposal]) -> None:
        """Peers' in-flight proposals become RUNNING trials of the private study, so the sampler
        treats them as pending (TPE's constant liar, GP's running-trial acquisition)."""
        super().set_pending(proposals)
        now = {p.number: p for p in proposals if p.number not in self._told}
        with quiet_optuna():
            for number in [n for n in self._peer_running if n not in now]:  # vanished unfinished
                running = self._peer_running.pop(number)
                self._storage.set_trial_user_attr(self._trial_id(running), DISCARDED_ATTR, "peer")
                self._tell(running, state=OptunaState.FAIL)
            for number, p in now.items():
                if number not in self._peer_running:
                    self._peer_running[number] = self._add_trial(
                        p.genome, OptunaState.RUNNING, None
                    )
        self.book.set_peers(list(now.values()))

    def _trial_id(self, number: int) -> int:
        return self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number)

    # ---- restore ---------------------------------------------------------------------------
    def restore(self, history: Iterable[tuple[Proposal, Feedback | None]]) -> None:
        """Rebuild the private study from past proposals (unfinished ones are only marked known).

        The sampler is reseeded from the number of past proposals so a resumed study does not
        replay its random stream; known DNA are never re-proposed while unseen ones remain.
        """
        items = list(history)
        n = len(items)
        self.reseed(n)
        self._pending.clear()
        self._pending_keys.clear()
        self._peer_running.clear()
        self.book = ProposalBook(self.space)
        self._told.clear()
        self.study = self._new_study(random.Random(f"{self.seed}:{n}").randrange(2**31))
        encode = self._stored_encoder(items)
        states = [None if f is None else self._state_of(f) for _, f in items]
        keep = self._restored(states)
        with quiet_optuna():
            for i, (proposal, feedback) in enumerate(items):
                self.book.seen.add(proposal_key(proposal, self.space))
                if feedback is None:
                    continue
                self._told.add(proposal.number)
                if keep is not None and i not in keep:
                    continue
                enc = encode(proposal)
                if enc is None:
                    self._add_finished(proposal.genome, *states[i])  # type: ignore[misc]
                else:
                    self._add_encoded(enc, *states[i])  # type: ignore[misc]

    def _state_of(self, feedback: Feedback) -> tuple[OptunaState, list[float] | None]:
        self._check_values(feedback)
        return _optuna_state(feedback)

    def _restored(self, states: list[tuple[OptunaState, list[float] | None] | None]) -> Any:
        """Indices of the finished items `restore` adds (None: every finished one)."""
        complete = [i for i, st in enumerate(states) if st and st[0] == OptunaState.COMPLETE]
        mask = self.restore_mask([states[i][1] for i in complete])  # type: ignore[index]
        return None if mask is None else {i for i, k in zip(complete, mask, strict=True) if k}

    def restore_mask(self, values: list[list[float]]) -> Any:
        """Which finished COMPLETE trials (their `values`, in order) `restore` adds to the private
        study, as a bool sequence; None (here): all, with the failed and pruned ones. A sampler
        that only ever reads part of the history says which part (the capped GP)."""
        return None

    def _stored_encoder(self, items: list[tuple[Proposal, Feedback | None]]):
        """Params of stored proposals straight from their DNA JSON on a flat space (None: decode
        the DNA); checked against `encode_dna` on the first stored proposal."""
        flat = FlatEncoder.of(self.space)
        first = next((p for p, f in items if isinstance(p, StoredProposal) and f), None)
        if flat is None or first is None:
            return lambda p: None
        fast = flat.encode(first.dna_json)
        slow = encode_dna(self.space, self.space.dna_from_json(first.dna_json))
        if fast is None or (fast.params, fast.distributions) != (slow.params, slow.distributions):
            return lambda p: None
        return lambda p: flat.encode(p.dna_json) if isinstance(p, StoredProposal) else None
