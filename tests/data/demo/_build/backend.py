"""A minimal in-tree PEP 517/660 backend: editable installs with no download (no setuptools/wheel)."""

import base64
import hashlib
import os
import zipfile

NAME, VERSION = "demo", "0.1.0"
DIST = f"{NAME}-{VERSION}"


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        f"{NAME}.pth": (os.path.abspath("src") + "\n").encode(),
        f"{DIST}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{DIST}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{DIST}.dist-info/RECORD,,"]
    files[f"{DIST}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = f"{DIST}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


def get_requires_for_build_editable(config_settings=None):
    return []
