"""POSTing a reminder to a webhook, retried with exponential backoff; robot keys never reach a log."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

log = logging.getLogger(__name__)

# The robot formats answer HTTP 200 and put the verdict in errcode; these codes mean "too fast"
# or "busy, try again" (WeCom 45009, DingTalk 130101, both -1), anything else non-zero is final.
ROBOT_FORMATS = frozenset({"wecom", "dingtalk"})
RETRYABLE_ERRCODES = frozenset({-1, 45009, 130101})
_MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, the first backoff (doubled each time, capped), the timeout."""

    max_attempts: int = 5
    base_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds < 0 or self.max_backoff_seconds < 0 or self.timeout_seconds <= 0:
            raise ValueError("backoff must not be negative and the timeout must be positive")

    def backoff(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1-based)."""
        return float(min(self.base_seconds * 2 ** (attempt - 1), self.max_backoff_seconds))


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery: delivered or not, after how many attempts, and why not."""

    delivered: bool
    attempts: int
    status: int | None = None
    errcode: int | None = None
    error: str = ""
    permanent: bool = False


def redact(url: str) -> str:
    """The URL fit for a log line: every query value and any user:password replaced by ***."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    if parts.username is not None or parts.password is not None:
        netloc = f"***@{netloc}"
    query = urlencode([(name, "***") for name, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def dingtalk_sign(*, secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64 of HMAC-SHA256 over "timestamp\\nsecret" keyed by the secret."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_signed_url(url: str, *, secret: str, timestamp_ms: int) -> str:
    """The robot URL with `&timestamp=…&sign=…` added (the sign URL-encoded, as DingTalk requires)."""
    sign = quote_plus(dingtalk_sign(secret=secret, timestamp_ms=timestamp_ms))
    joiner = "&" if urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body; a webhook that
    # redirects is misconfigured, so the 3xx is reported rather than followed.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post_json(*, url: str, body: Mapping[str, Any], timeout: float) -> tuple[int, bytes, str]:
    """One POST of a JSON body (UTF-8): the status, the first 64 KiB of the answer, and Retry-After."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.read(_MAX_ANSWER_BYTES), answer.headers.get("Retry-After", "")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(_MAX_ANSWER_BYTES), exc.headers.get("Retry-After", "")


Sender = Callable[..., tuple[int, bytes, str]]


def deliver(
    *,
    url: str,
    body: Mapping[str, Any],
    fmt: str,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    send: Sender = post_json,
    secret: str = "",
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """POSTs the body until it is accepted, fails for good, or the attempts run out.

    Retried: connection errors and timeouts, HTTP 5xx and 429, and a robot's rate-limit errcode.
    Final: any other 4xx or 3xx, and any other non-zero errcode of a wecom/dingtalk robot.
    A dingtalk channel with a secret signs every attempt afresh: DingTalk refuses a timestamp
    more than an hour old, and a retry may come after a long backoff.
    """
    policy = policy or RetryPolicy()
    where = redact(url)
    status: int | None = None
    errcode: int | None = None
    error = ""
    for attempt in range(1, policy.max_attempts + 1):
        retry_after = ""
        target = url
        if secret and fmt == "dingtalk":
            target = dingtalk_signed_url(url, secret=secret, timestamp_ms=int(clock() * 1000))
        try:
            status, answer, retry_after = send(url=target, body=body, timeout=policy.timeout_seconds)
        except (OSError, http.client.HTTPException) as exc:
            status, errcode, retryable = None, None, True
            error = _scrub(f"{type(exc).__name__}: {exc}", target)
        else:
            errcode, retryable, error = _verdict(status, answer, fmt=fmt, target=target)
            if not error:
                log.info("reminder delivered", extra={"channel": where, "attempts": attempt})
                return Outcome(delivered=True, attempts=attempt, status=status, errcode=errcode)
        if not retryable:
            log.warning("reminder refused", extra={"channel": where, "attempts": attempt, "error": error})
            return Outcome(
                delivered=False, attempts=attempt, status=status, errcode=errcode, error=error, permanent=True
            )
        if attempt < policy.max_attempts:
            pause = max(policy.backoff(attempt), min(_retry_after(retry_after), policy.max_backoff_seconds))
            log.info(
                "reminder not delivered, retrying",
                extra={"channel": where, "attempts": attempt, "error": error, "retry_in_seconds": pause},
            )
            sleep(pause)
    log.warning(
        "reminder not delivered, giving up for now",
        extra={"channel": where, "attempts": policy.max_attempts, "error": error},
    )
    return Outcome(delivered=False, attempts=policy.max_attempts, status=status, errcode=errcode, error=error)


def _verdict(status: int, answer: bytes, *, fmt: str, target: str) -> tuple[int | None, bool, str]:
    """(errcode, retryable, error) of an answer; the error is empty when the answer accepts the message."""
    errcode = _errcode(answer) if fmt in ROBOT_FORMATS and 200 <= status < 300 else None
    if 200 <= status < 300 and not errcode:
        return errcode, False, ""
    if errcode:
        return errcode, errcode in RETRYABLE_ERRCODES, f"errcode {errcode}: {_scrub(_errmsg(answer), target)}"
    return errcode, status >= 500 or status == 429, f"HTTP {status}"


def _errcode(answer: bytes) -> int | None:
    try:
        parsed = json.loads(answer)
    except ValueError:
        return None
    code = parsed.get("errcode") if isinstance(parsed, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _errmsg(answer: bytes) -> str:
    parsed = json.loads(answer)
    return str(parsed.get("errmsg", ""))[:200]


def _retry_after(value: str) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 0 when absent or unreadable."""
    value = value.strip()
    if not value:
        return 0.0
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _scrub(text: str, url: str) -> str:
    """Text with the URL and its query string replaced by the redacted form."""
    query = urlsplit(url).query
    text = text.replace(url, redact(url))
    return text.replace(query, "***") if query else text
