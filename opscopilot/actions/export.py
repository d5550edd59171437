"""Hand an approved action request to the ERP: a signed webhook or a file drop, per site.

A site's `policy["erp_export"]` chooses: `{"mode": "webhook", "url": "https://..."}` or
`{"mode": "file", "dir": "/path"}`; with none, files go to `erp-exports/<site>/` beside the
embedded database. The webhook is signed the Standard Webhooks way with the notification
webhook secret, and its target passes the same SSRF check as notification webhooks (the
request goes to the checked address; redirects are not followed). Both forms are keyed by
the request id, so a repeated export is recognised rather than doubled.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from opscopilot.core.errors import ServiceUnavailable, ValidationFailed
from opscopilot.core.settings import Settings


class ExportFailed(ServiceUnavailable):
    code = "erp_export_failed"


@dataclass(frozen=True)
class ExportTarget:
    mode: Literal["file", "webhook"]
    site: str
    location: str  # a directory, or a URL


def default_export_dir() -> Path:
    from opscopilot.store.embedded import default_data_dir

    return default_data_dir().parent / "erp-exports"


def target_for_site(
    policy: dict[str, Any], *, settings: Settings, site: str = "main"
) -> ExportTarget:
    conf = policy.get("erp_export") or {}
    mode = conf.get("mode", "file")
    if mode == "webhook":
        url = conf.get("url")
        if not isinstance(url, str) or not url:
            raise ValidationFailed("the site's erp_export webhook has no url", field="policy")
        return ExportTarget(mode="webhook", site=site, location=url)
    if mode != "file":
        raise ValidationFailed(f"unknown erp_export mode {mode!r}", field="policy")
    directory = conf.get("dir") or str(default_export_dir() / site)
    return ExportTarget(mode="file", site=site, location=str(directory))


async def export_request(
    target: ExportTarget, *, document: dict[str, Any], settings: Settings
) -> str:
    """Deliver `document`; returns a reference (the file name or the webhook id)."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    if target.mode == "file":
        return _write_file(Path(target.location), document["id"], body)
    return await _post_webhook(target.location, document["id"], body, settings=settings)


def _write_file(directory: Path, action_id: str, body: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"action-{action_id}.json"
    # Written aside and renamed: the ERP's file watcher never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final.name


async def _post_webhook(url: str, action_id: str, body: bytes, *, settings: Settings) -> str:
    from opscopilot.notify.channels.webhook import sign
    from opscopilot.notify.urlguard import check_url

    secret = settings.notify.webhook_secret
    if secret is None or not secret.get_secret_value():
        raise ValidationFailed(
            "ERP webhooks need OPSCOPILOT_NOTIFY__WEBHOOK_SECRET", field="policy"
        )
    target = await check_url(url, allowlist=settings.notify.webhook_allowlist)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "OpsCopilot-Actions/1",
        "host": target.url.netloc.decode("ascii"),
        "webhook-id": action_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=secret.get_secret_value(), msg_id=action_id, timestamp=timestamp, body=body
        ),
    }
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False, trust_env=False) as client:
        for address in target.addresses:
            try:
                response = await client.post(
                    target.pinned(address), content=body, headers=headers, extensions=extensions
                )
            except httpx.ConnectError:
                continue  # the next checked address may answer
            except httpx.TransportError as exc:
                raise ExportFailed(f"ERP webhook transport error ({type(exc).__name__})") from exc
            if 200 <= response.status_code < 300:
                return action_id
            raise ExportFailed(f"ERP webhook answered HTTP {response.status_code}")
    raise ExportFailed("ERP webhook unreachable")
