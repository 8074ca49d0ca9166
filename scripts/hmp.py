#!/usr/bin/env python3
"""Run HMP commands on a QEMU monitor socket once the guest has powered off.

usage: hmp.py SOCKET CMD [CMD...]

Used by run-l1.sh --hmp-at-exit: QEMU runs with -no-shutdown, so L1's
power-off stops the VM and leaves the monitor up. This waits (up to 60 s)
until "info status" says the VM shut down, prints each command's output as
"TDX-EMU-HMP: <cmd>" followed by the lines, then quits QEMU.
"""
import socket
import sys
import time

PROMPT = b"(qemu) "


def read_until_prompt(sock):
    data = b""
    while not data.endswith(PROMPT):
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("monitor closed the connection")
        data += chunk
    return data[: -len(PROMPT)].decode(errors="replace")


def command(sock, cmd):
    sock.sendall(cmd.encode() + b"\n")
    out = read_until_prompt(sock)
    # The monitor echoes the command line first (with terminal escapes).
    lines = out.replace("\r", "").split("\n")
    return "\n".join(lines[1:]).rstrip("\n")


def main():
    path, cmds = sys.argv[1], sys.argv[2:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(path)
    read_until_prompt(sock)                      # banner
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = command(sock, "info status")
        if "shutdown" in status:
            break
        time.sleep(0.2)
    else:
        print(f"TDX-EMU-HMP: guest did not power off within 60 s ({status.strip()})")
    for cmd in cmds:
        print(f"TDX-EMU-HMP: {cmd}")
        print(command(sock, cmd))
    print("TDX-EMU-HMP: end")
    sys.stdout.flush()
    sock.sendall(b"quit\n")
    sock.close()


if __name__ == "__main__":
    main()
