"""The whole local stack in one object: the runtime (moto + handlers), its HTTP server, and localstripe."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.local.gateway import serve
from infra.local.runtime import LocalRuntime
from infra.local.template import ROOT

STRIPE_KEY = "sk_test_local"
PUBLISHABLE_KEY = "pk_test_local"
LOCAL_WEBHOOK_TIMEOUT_SECONDS = 3  # the cloud's is 15 (template.yaml, WebhookDeliveryFunction)
LOCAL_WIDE_LIMIT = "10000/10000"
LOCALSTRIPE_PYTHON = ROOT / ".tools" / "localstripe" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalStack:
    def __init__(self, state_dir: Path, with_stripe: bool = True) -> None:
        self.state_dir = state_dir
        self.with_stripe = with_stripe
        self.runtime = LocalRuntime(state_dir)
        self.server: Any = None
        self.stripe: subprocess.Popen[bytes] | None = None
        self.stripe_url: str | None = None
        self.webhook_secret = "whsec_" + secrets.token_hex(24)
        self.stop_event = threading.Event()

    def start(
        self, api_port: int = 0, aws_port: int = 0, background: bool = True, at: datetime | None = None
    ) -> LocalStack:
        """Start it all; the stack's clock starts at ``at`` (default: now)."""
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir.mkdir(parents=True)
        if self.with_stripe:
            self._start_localstripe()
        stripe_env = (
            {
                "STRIPE_API_BASE": self.stripe_url,
                # the hosted invoice page loads localstripe's stand-in for Stripe.js, with a publishable key
                "STRIPE_JS_URL": f"{self.stripe_url}/js.stripe.com/v3/",
                "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            }
            if self.stripe_url
            else {}
        )
        self.runtime.start(
            aws_port,
            env=stripe_env,
            parameters={
                "/billing/${Stage}/stripe/secret-key": STRIPE_KEY,
                "/billing/${Stage}/stripe/webhook-secrets": self.webhook_secret,
            },
            at=at,
        )
        self.server = serve(self.runtime, api_port)
        # What only the running stack knows wins over the template's values (which name the cloud): Stripe.js from
        # localstripe, and email links to this server, whose port is known once it is bound.
        # Webhook endpoints on this machine (http, loopback) are allowed here only, and a receiver that does not
        # answer is given up on after 3 s rather than 15 (billing.adapters.webhook_http), to keep the tests fast.
        webhooks_env = {"WEBHOOKS_ALLOW_LOCAL": "true", "WEBHOOK_TIMEOUT_SECONDS": str(LOCAL_WEBHOOK_TIMEOUT_SECONDS)}
        # Here one address (loopback) is every browser, the storefront and localstripe at once: the per-address and
        # per-link limits would be everyone's, so they are wide; a tenant's limit is the template's.
        limits_env = {"SOURCE_RATE_LIMIT": LOCAL_WIDE_LIMIT, "LINK_RATE_LIMIT": LOCAL_WIDE_LIMIT}
        local_env = {**stripe_env, **webhooks_env, **limits_env, "PUBLIC_BASE_URL": self.api_url}
        os.environ.update(local_env)
        for deps in self.runtime.deps.values():
            deps.env.update(local_env)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        if self.stripe_url:  # localstripe delivers its events to our webhook, signed with our secret
            request = urllib.request.Request(
                f"{self.stripe_url}/_config/webhooks/local",
                method="POST",
                data=urllib.parse.urlencode(
                    {"url": f"{self.api_url}/webhooks/stripe", "secret": self.webhook_secret}
                ).encode(),
                headers={"Authorization": f"Bearer {STRIPE_KEY}"},
            )
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback
        if background:
            threading.Thread(target=self.runtime.run_background, args=(self.stop_event,), daemon=True).start()
        return self

    @property
    def api_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _start_localstripe(self) -> None:
        if not LOCALSTRIPE_PYTHON.exists():
            raise SystemExit("localstripe is not installed: run `make install` (or `make serve`)")
        port = free_port()
        log = open(self.state_dir / "localstripe.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.stripe = subprocess.Popen(
            [
                str(LOCALSTRIPE_PYTHON),
                str(Path(__file__).with_name("localstripe_main.py")),
                str(port),
                str(self.state_dir / "localstripe.pickle"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stripe_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.stripe_url}/v1/customers", timeout=1)  # noqa: S310 - loopback
            except urllib.error.HTTPError:
                return  # it answered (401 without a key): it is up
            except OSError:
                if self.stripe.poll() is not None:
                    raise SystemExit(f"localstripe exited; see {self.state_dir / 'localstripe.log'}") from None
                time.sleep(0.1)
        raise SystemExit("localstripe did not start in 10 s")

    def describe(self, tenant_id: str, api_key: str) -> dict[str, Any]:
        rt = self.runtime
        assert rt.provisioned is not None
        return {
            "api_base_url": self.api_url,
            "tenant_id": tenant_id,
            "api_key": api_key,
            "aws": {
                "endpoint_url": rt.aws_endpoint,
                "region": os.environ["AWS_DEFAULT_REGION"],
                "access_key_id": "local",
                "secret_access_key": "local",
                "table_name": rt.provisioned.refs["Table"],
                "queues": rt.provisioned.queue_urls,
                "event_bus": rt.provisioned.refs.get("BillingEventBus"),
            },
            "stripe": {
                "api_base": self.stripe_url,
                "secret_key": STRIPE_KEY,
                "publishable_key": PUBLISHABLE_KEY,
                "webhook_secret": self.webhook_secret,
                "webhook_url": f"{self.api_url}/webhooks/stripe",
            },
            "local_routes": {
                "clock": f"{self.api_url}/_local/clock",
                "advance_clock": f"{self.api_url}/_local/clock/advance",
                "drain": f"{self.api_url}/_local/drain",
                "emails": f"{self.api_url}/_local/emails",
            },
            "pid": os.getpid(),
        }

    def write_description(self, path: Path, description: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(description, indent=2))
        tmp.replace(path)

    def stop(self) -> None:
        self.stop_event.set()
        if self.server:
            self.server.shutdown()
        if self.stripe and self.stripe.poll() is None:
            self.stripe.terminate()
            try:
                self.stripe.wait(timeout=5)
            except subprocess.TimeoutExpired:  # never leave it behind, listening
                self.stripe.kill()
                self.stripe.wait()
        self.runtime.stop()
