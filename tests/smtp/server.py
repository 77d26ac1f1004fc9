"""A real SMTP server for Accord's tests, built on aiosmtpd.

Usage: server.py OUTDIR PORT MODEFILE [--starttls CERT KEY | --implicit CERT KEY] [--auth USER PASS]

Saves each accepted message to OUTDIR as a .eml file. MODEFILE, read at each message, says how
to answer: "ok" (or no file), "421" (transient refusal), "550" (permanent refusal), or "silent"
(accept the body, then never answer). Prints "ready" once listening.
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
    controller = Controller(Handler(outdir, modefile), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
