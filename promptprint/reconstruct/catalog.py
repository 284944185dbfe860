"""The latest reconstruction of a data directory, as the server reads it.

``promptprint campaigns --data-dir D`` publishes its result in D (see
:func:`promptprint.reconstruct.outputs.publish`); the catalog loads ``campaigns.jsonl`` of
the published folder and reloads it when the pointer or the file changes, so a new
reconstruction is served without a restart. Listing filters by time window and score
and pages by offset; a page token names the reconstruction it belongs to, so paging
across a swap is refused instead of silently mixing two reconstructions.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from promptprint.errors import FailedPrecondition, InvalidArgument, NotFound
from promptprint.reconstruct.outputs import CAMPAIGNS_FILE, MANIFEST_FILE, latest, read_campaigns


@dataclasses.dataclass(frozen=True)
class CampaignPage:
    campaigns: list[dict[str, Any]]
    next_page_token: str
    total_size: int
    reconstruction_time_ms: int


class CampaignCatalog:
    """Read access to a data directory's latest reconstruction (thread-safe)."""

    def __init__(self, data_dir: str | Path) -> None:
        self._data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._key: tuple[str, int] | None = None
        self._campaigns: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._made_ms = 0

    def _load(self) -> tuple[str, int]:
        folder = latest(self._data_dir)
        if folder is None or not (folder / CAMPAIGNS_FILE).exists():
            raise FailedPrecondition(
                f"no campaign reconstruction in {self._data_dir}; run `promptprint campaigns --data-dir {self._data_dir}` first",
                reason="NO_RECONSTRUCTION",
            )
        key = (str(folder), (folder / CAMPAIGNS_FILE).stat().st_mtime_ns)
        with self._lock:
            if key != self._key:
                campaigns = read_campaigns(folder)
                self._campaigns = campaigns
                self._by_id = {c["campaign_id"]: c for c in campaigns}
                manifest = folder / MANIFEST_FILE
                self._made_ms = int(manifest.stat().st_mtime * 1000) if manifest.exists() else int(key[1] // 1_000_000)
                self._key = key
            return key

    def list(self, *, page_size: int, page_token: str = "", min_score: float = 0.0,
             start_ms: int | None = None, end_ms: int | None = None) -> CampaignPage:
        """Campaigns active in [start, end) scoring >= min_score, best first, one page."""
        if not 0.0 <= min_score <= 1.0:
            raise InvalidArgument(f"min_score must be in [0, 1], got {min_score}", reason="MIN_SCORE_OUT_OF_RANGE", field="min_score")
        key = self._load()
        tag = f"{key[1]:x}"
        offset = 0
        if page_token:
            head, _, rest = page_token.partition(":")
            if head != tag or not rest.isdigit():
                raise InvalidArgument("page_token is not one this reconstruction issued (a newer one may have been published); "
                                      "start again without a token", reason="PAGE_TOKEN_INVALID", field="page_token")
            offset = int(rest)
        matching = [
            c for c in self._campaigns
            if c["score"] >= min_score
            and (start_ms is None or c["last_seen_ms"] >= start_ms)
            and (end_ms is None or c["first_seen_ms"] < end_ms)
        ]
        page = matching[offset : offset + page_size]
        token = f"{tag}:{offset + page_size}" if offset + page_size < len(matching) else ""
        return CampaignPage(page, token, len(matching), self._made_ms)

    def get(self, campaign_id: str) -> dict[str, Any]:
        """One campaign by id."""
        if not campaign_id:
            raise InvalidArgument("campaign_id is required", reason="CAMPAIGN_ID_MISSING", field="campaign_id")
        self._load()
        campaign = self._by_id.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r} in the latest reconstruction", reason="CAMPAIGN_NOT_FOUND", field="campaign_id")
        return campaign
