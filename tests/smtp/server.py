"""A real SMTP server for Accord's tests, built on aiosmtpd.

Usage: server.py OUTDIR PORT MODEFILE

Saves each accepted message to OUTDIR as a .eml file. MODEFILE, read at each message, says how
to answer: "ok" (or no file), "421" (transient refusal), "550" (permanent refusal), or "silent"
(accept the body, then never answer). Prints "ready" once listening.
"""

import asyncio
import os
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, outdir, modefile):
        self.outdir = outdir
        self.modefile = modefile

    def mode(self):
        try:
            with open(self.modefile) as f:
                return f.read().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        if mode == "421":
            return "421 4.3.2 service not available, try again later"
        if mode == "550":
            return "550 5.1.1 mailbox unavailable"
        if mode == "silent":
            await asyncio.sleep(3600)
        name = os.path.join(self.outdir, f"{time.time_ns()}.eml")
        with open(name + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 OK"


def main():
    outdir, port, modefile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    controller = Controller(Handler(outdir, modefile), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
