"""A real SMTP server for the mail tests (aiosmtpd): accepts every message on 127.0.0.1:PORT
and prints one JSON line per message (to, from, subject, text, html) on stdout. The first
line is `listening PORT`. Runs until stdin closes or it is killed."""

import asyncio
import email
import email.policy
import json
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = {"text/plain": "", "text/html": ""}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in parts and not parts[kind]:
                parts[kind] = part.get_content()
        record = {
            "to": envelope.rcpt_tos,
            "from": envelope.mail_from,
            "subject": str(message["subject"]),
            "text": parts["text/plain"],
            "html": parts["text/html"],
        }
        print(json.dumps(record), flush=True)
        return "250 Message accepted for delivery"


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if port == 0:
        # The controller checks itself by connecting to its port, so it needs a real one.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"listening {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
