"""Start localstripe isolated: its state in a file of our choosing (it hard-codes /tmp/localstripe.pickle, which
two stacks on one machine would share), listening on 127.0.0.1 only, with the layer that supplies what the product
needs from Stripe and localstripe lacks (localstripe_layer.py, beside this file).

Runs in localstripe's own venv (.tools/localstripe), so it imports nothing of the project.
Usage: python localstripe_main.py PORT STATE_FILE
"""

from __future__ import annotations

import pickle
import sys

import localstripe_layer
from aiohttp import web
from localstripe import resources, server


def main() -> None:
    port, state_file = int(sys.argv[1]), sys.argv[2]

    def load(self: resources.Store) -> None:
        try:
            with open(state_file, "rb") as f:
                self.clear()
                self.update(pickle.load(f))
        except FileNotFoundError:
            pass

    def dump(self: resources.Store) -> None:
        with open(state_file, "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    resources.store.try_load_from_disk()
    localstripe_layer.install(server.app)
    # a stop is a stop: no minute-long wait for the SDK's kept-alive connections to close
    web.run_app(server.app, host="127.0.0.1", port=port, print=lambda *_: None, shutdown_timeout=1)


if __name__ == "__main__":
    main()
