#!/usr/bin/env python3
"""Makes the seed corpora of tests/fuzz/seeds from tests/data and the example configurations.

Run from anywhere; rewrites seeds/packet_headers and seeds/tcp_loss (frames of the pcap captures,
in the input formats the targets read) and copies config/examples into seeds/config. The capture
reader needs no seeds of its own: its corpus is tests/data itself.
"""
import os
import pathlib
import shutil
import struct

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent
data = root / "tests" / "data"

# The link types of fuzz_packet_headers.cpp and fuzz_tcp_loss.cpp, by their index there.
headers_index = {1: 0, 113: 1, 101: 2, 12: 2, 228: 3, 229: 4, 0: 5, 108: 6}
tcp_loss_index = {1: 0, 101: 1, 12: 1, 113: 2}


def read_pcap(path):
    raw = path.read_bytes()
    if len(raw) < 24:
        return None, []
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        return None, []  # pcapng: the reader's corpus has it
    link_type = struct.unpack(order + "I", raw[20:24])[0] & 0xFFFF
    frames, offset = [], 24
    while offset + 16 <= len(raw):
        caplen = struct.unpack(order + "I", raw[offset + 8:offset + 12])[0]
        if offset + 16 + caplen > len(raw):
            break
        frames.append(raw[offset + 16:offset + 16 + caplen])
        offset += 16 + caplen
    return link_type, frames


def main():
    for sub in ("packet_headers", "tcp_loss"):
        shutil.rmtree(here / "seeds" / sub, ignore_errors=True)
        (here / "seeds" / sub).mkdir(parents=True)
    for capture in sorted(data.glob("*.pcap")):
        link_type, frames = read_pcap(capture)
        if link_type is None or not frames:
            continue
        stem = capture.stem
        if link_type in headers_index:
            for i, frame in enumerate(frames[:6]):
                out = here / "seeds" / "packet_headers" / f"{stem}-{i}"
                out.write_bytes(bytes([headers_index[link_type]]) + frame[:2048])
        if link_type in tcp_loss_index:
            body = bytearray([tcp_loss_index[link_type]])
            for i, frame in enumerate(frames[:40]):
                frame = frame[:1024]
                body += struct.pack(">HB", len(frame), (i % 2) | 2) + frame
            (here / "seeds" / "tcp_loss" / stem).write_bytes(bytes(body))
    config_seeds = here / "seeds" / "config"
    config_seeds.mkdir(parents=True, exist_ok=True)
    for example in sorted((root / "config" / "examples").glob("*.yaml")):
        shutil.copy(example, config_seeds / example.name)


if __name__ == "__main__":
    main()
