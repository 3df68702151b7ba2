"""Application services: one class per service over the daemon's context (`Service`), typed at
the seams the API calls; `Services` builds each once and wires their few dependencies."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import trio

from aionisd.service import Service
from aionisd.services.replays import ReplayService

if TYPE_CHECKING:
    from aionisd.services.catalog import CatalogService
    from aionisd.services.governance import GovernanceService


class Services:
    """The daemon's services. Catalog and governance are built on first use: they load signing
    (cryptography) and repair (jsonschema, jsonpatch), which an idle daemon does without."""

    def __init__(self, ctx: Service, nursery: trio.Nursery | None = None) -> None:
        """`nursery` is where background work (shadow runs) goes; without one there is none."""
        self.ctx = ctx
        self.nursery = nursery
        self.replays = ReplayService(ctx, lambda: self.catalog, lambda: self.governance)

    @cached_property
    def catalog(self) -> CatalogService:
        from aionisd.services.catalog import CatalogService

        return CatalogService(self.ctx)

    @cached_property
    def governance(self) -> GovernanceService:
        from aionisd.services.governance import GovernanceService
        from aionisd.services.shadow import ShadowService

        return GovernanceService(self.ctx, self.catalog, ShadowService(self.ctx), self.nursery)
