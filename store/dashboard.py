"""The dashboard's reads of a store, in one object: history curves, the trials table and a
trial's relations, and the study aggregations (three modules, one concept; nothing writes)."""

from __future__ import annotations

from hashtune.store.dashboard_history import DashboardHistory
from hashtune.store.dashboard_queries import DashboardQueries
from hashtune.store.dashboard_trials import DashboardTrials
from hashtune.store.retry import retry_methods


class Dashboard(DashboardHistory, DashboardTrials, DashboardQueries):
    """Every dashboard query; each half reaches the database only through `self.db`."""


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
retry_methods(Dashboard)
