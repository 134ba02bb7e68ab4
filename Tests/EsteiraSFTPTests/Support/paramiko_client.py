"""A second SFTP client for the gateway's interoperability test: paramiko, from .local/venv.

Usage: paramiko_client.py HOST PORT USER KEYFILE WORKDIR
Uploads, lists, stats, downloads, renames and removes one file, and checks that an escape
attempt is refused with the reason. Prints one line per step and "paramiko ok" at the end;
any failure exits non-zero with the reason.
"""
import os
import sys

import paramiko

host, port, user, keyfile, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
key = paramiko.Ed25519Key.from_private_key_file(keyfile)
transport = paramiko.Transport((host, port))
transport.connect(username=user, pkey=key)  # host key not pinned: the test made the server a moment ago
print("connected, cipher", transport.remote_cipher)
sftp = paramiko.SFTPClient.from_transport(transport)

payload = os.urandom(3 * 1024 * 1024 + 17)
local = os.path.join(workdir, "paramiko-up.bin")
with open(local, "wb") as f:
    f.write(payload)

assert sftp.normalize(".") == "/", sftp.normalize(".")
sftp.mkdir("/pm")
sftp.put(local, "/pm/up.bin")
print("put ok")
st = sftp.stat("/pm/up.bin")
assert st.st_size == len(payload), (st.st_size, len(payload))
names = sftp.listdir("/pm")
assert names == ["up.bin"], names
print("listdir ok", names)
back = os.path.join(workdir, "paramiko-down.bin")
sftp.get("/pm/up.bin", back)
with open(back, "rb") as f:
    assert f.read() == payload, "downloaded bytes differ"
print("get ok")
sftp.rename("/pm/up.bin", "/pm/renamed.bin")
assert sftp.listdir("/pm") == ["renamed.bin"]
print("rename ok")
# An escape attempt is refused with the reason; nothing is written anywhere.
for escape in ("../../../escape.txt", "/../other-tenant/escape.txt"):
    try:
        with sftp.open(escape, "w") as f:
            f.write(b"outside?")
        raise SystemExit(f"{escape} was accepted")
    except PermissionError as e:
        assert "goes above your home folder" in str(e), e
assert sorted(sftp.listdir("/")) == ["pm"], sftp.listdir("/")
# cd .. at the top stays at the top, as in a chroot (REALPATH names a path, it writes nothing).
sftp.chdir("..")
assert sftp.getcwd() == "/", sftp.getcwd()
print("escape refused ok")
try:
    sftp.symlink("/pm/renamed.bin", "/pm/link")
    raise SystemExit("symlink was accepted")
except IOError as e:
    print("symlink refused:", e)
sftp.remove("/pm/renamed.bin")
sftp.rmdir("/pm")
assert sftp.listdir("/") == [], sftp.listdir("/")
print("remove ok")
sftp.close()
transport.close()
print("paramiko ok")
