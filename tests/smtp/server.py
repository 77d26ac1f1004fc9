"""A real SMTP server for Accord's tests, built on aiosmtpd.

Usage: server.py OUTDIR PORT MODEFILE [--starttls CERT KEY | --implicit CERT KEY] [--auth USER PASS]

Saves each accepted message to OUTDIR as a .eml file. MODEFILE, read at each command (so a test
changes it while the server runs), says how to answer:

- "ok" (or no file): accept every message;
- "421": a transient refusal of each message; "550": a permanent one;
- "silent": accept the body, then never answer;
- "down": stop listening (connections are refused) until the mode changes again;
- "flap": every other message is refused with 421 at MAIL FROM, the others accepted;
- "slow N": every answer after the greeting comes N seconds late (the message is saved before
  the late final answer, as a real server saves it before it says so).

Prints "ready" once listening.
"""

import asyncio
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir, modefile):
        self.outdir = outdir
        self.modefile = modefile

        self.messages = 0

    def mode(self):
        return read_mode(self.modefile)

    async def slow(self):
        mode = self.mode()
        if mode.startswith("slow "):
            await asyncio.sleep(float(mode.split()[1]))

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        await self.slow()
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        await self.slow()
        if self.mode() == "flap":
            self.messages += 1
            if self.messages % 2 == 1:
                return "421 4.3.2 service not available, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await self.slow()
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

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
        await self.slow()
        return "250 2.0.0 OK"


def read_mode(modefile):
    try:
        with open(modefile) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return "ok"


def main():
    outdir, port, modefile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    opts = sys.argv[4:]
    os.makedirs(outdir, exist_ok=True)
    kwargs = {}
    if "--starttls" in opts or "--implicit" in opts:
        flag = "--starttls" if "--starttls" in opts else "--implicit"
        i = opts.index(flag)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(opts[i + 1], opts[i + 2])
        if flag == "--starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    if "--auth" in opts:
        i = opts.index("--auth")
        user, password = opts[i + 1].encode(), opts[i + 2].encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
            return AuthResult(success=ok, handled=False)

        # With implicit TLS the whole session is encrypted, though aiosmtpd does not see it.
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls="--implicit" not in opts)
    handler = Handler(outdir, modefile)

    def listen():
        c = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        c.start()
        return c

    controller = None if read_mode(modefile) == "down" else listen()
    print("ready", flush=True)
    try:
        # "down" closes the listening socket; any other mode opens it again.
        while True:
            down = read_mode(modefile) == "down"
            if down and controller is not None:
                controller.stop()
                controller = None
            elif not down and controller is None:
                controller = listen()
            time.sleep(0.05)
    finally:
        if controller is not None:
            controller.stop()


if __name__ == "__main__":
    main()
