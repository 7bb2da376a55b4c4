"""Is a hub model reachable? A bounded check made before any compute (`xalign run`, `xalign build`).

Introduced in the book's preface ("How to re-run"). Without network and without `HF_HUB_OFFLINE=1`,
`transformers` retries a hub download for minutes before it fails; a reader who passes
`-p model some-org/some-model` on such a machine should get a one-line answer within seconds instead.
So a hub name that is not in the local HF cache is checked here first: can the hub be reached at all
(a TCP connection within `timeout` seconds, DNS included), and if so, does the repository exist.
"""
from __future__ import annotations

import os
import socket
import threading

HUB_HOST = "huggingface.co"
TIMEOUT_S = 5.0


class HubUnavailableError(RuntimeError):
    """A hub model that cannot be had: not cached, and the hub unreachable or without that repository."""


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"


def reachable(host: str = HUB_HOST, port: int = 443, timeout: float = TIMEOUT_S) -> bool:
    """True if a TCP connection to host:port opens within `timeout` seconds (name lookup included:
    `getaddrinfo` has no timeout of its own, so the attempt runs in a daemon thread and is abandoned)."""
    result: list[bool] = []

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def in_local_cache(name: str) -> bool:
    """The hub model's config is in the local HF cache (usable offline)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def check_hub_model(name: str, timeout: float = TIMEOUT_S) -> None:
    """Refuse, within about `timeout` seconds, a hub name that cannot be loaded: not cached and (offline
    or hub unreachable or no such repository). Local directories and named models are not hub names."""
    if in_local_cache(name):
        return
    fix = "pass a local model directory, 'base' or 'me5-small'"
    if offline():
        raise HubUnavailableError(f"hub model {name!r} is not available offline (HF_HUB_OFFLINE=1); {fix}")
    if not reachable(timeout=timeout):
        raise HubUnavailableError(f"hub model {name!r} is not in the local HF cache and {HUB_HOST} cannot be reached "
                                  f"(no connection within {timeout:.0f} s); {fix}, or set HF_HUB_OFFLINE=1")
    from huggingface_hub import model_info
    from huggingface_hub.utils import HfHubHTTPError, RepositoryNotFoundError

    try:
        model_info(name, timeout=timeout)
    except RepositoryNotFoundError:
        raise HubUnavailableError(f"hub model {name!r} does not exist (or is private); check the name; {fix}") from None
    except (HfHubHTTPError, OSError) as e:
        raise HubUnavailableError(f"hub model {name!r} could not be checked ({e.__class__.__name__}); {fix}") from None
