#!/usr/bin/env python3
"""Entry-for-entry comparison of `conntrack -L -o extended` with routerd's GET /connections.

usage: conntrack_compare.py [--filtered] CONNTRACK_OUTPUT PAGE.json [PAGE.json ...]

Both sides are normalised to (family, protocol, state, original tuple with counters, reply tuple with
counters, assured, mark, zone) and compared as multisets; the timeout is left out (it ticks between the
two reads). The pages' items are pooled, so a table larger than `limit` is compared slice by slice; each
page must not be truncated, and together they must hold the table's `count` (unless --filtered: then the
conntrack output is of the same filter and the count, which is always the whole table's, is not checked). Prints one summary line and the first differences; exits 1 on any.
"""
import collections
import ipaddress
import json
import sys

TUPLE_KEYS = ("src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes")


def addr(text):
    return str(ipaddress.ip_address(text))


def parse_conntrack(path):
    entries = []
    with open(path) as f:
        for line in f:
            t = line.split()
            if len(t) < 6 or t[0] not in ("ipv4", "ipv6"):
                continue
            family, proto = t[0], t[2]
            i = 5  # t[4] is the timeout
            state = "-"
            if "=" not in t[i] and not t[i].startswith("["):
                state, i = t[i], i + 1
            tuples, current = [{}, {}], -1
            assured, mark, zone = False, "0", "0"
            for tok in t[i:]:
                if tok == "[ASSURED]":
                    assured = True
                    continue
                if "=" not in tok:
                    continue
                k, v = tok.split("=", 1)
                if k == "src":
                    current += 1
                if k in TUPLE_KEYS and 0 <= current < 2:
                    tuples[current][k] = addr(v) if k in ("src", "dst") else v
                elif k == "mark":
                    mark = v
                elif k == "zone":
                    zone = v
            entries.append(key(family, proto, state, tuples[0], tuples[1], assured, mark, zone))
    return entries


def ours(t):
    names = {"source": "src", "destination": "dst", "sourcePort": "sport", "destinationPort": "dport",
             "icmpType": "type", "icmpCode": "code", "icmpId": "id", "packets": "packets", "bytes": "bytes"}
    out = {}
    for k, v in t.items():
        if k in names:
            out[names[k]] = addr(v) if k in ("source", "destination") else str(v)
    return out


def key(family, proto, state, orig, reply, assured, mark, zone):
    return (family, proto, state, tuple(sorted(orig.items())), tuple(sorted(reply.items())), assured,
            str(mark), str(zone))


def main():
    args = sys.argv[1:]
    filtered = args[:1] == ["--filtered"]
    if filtered:
        args = args[1:]
    theirs = parse_conntrack(args[0])
    mine, truncated, count = [], 0, None
    for path in args[1:]:
        with open(path) as f:
            page = json.load(f)
        truncated += bool(page.get("truncated"))
        count = page.get("count")
        for c in page["items"]:
            mine.append(key(c["family"], c["protocol"], c.get("state") or "-", ours(c["original"]),
                            ours(c["reply"]), c["assured"], c["mark"], c["zone"]))
    a, b = collections.Counter(theirs), collections.Counter(mine)
    only_theirs, only_ours = a - b, b - a
    nat = sum(1 for e in mine if dict(e[3]).get("src") != dict(e[4]).get("dst")
              or dict(e[3]).get("dst") != dict(e[4]).get("src"))
    counted = sum(1 for e in mine if dict(e[3]).get("packets", "0") != "0")
    print(f"conntrack {len(theirs)} entries, routerd {len(mine)} items (table count {count}, "
          f"{nat} with NAT, {counted} with non-zero counters); only in conntrack {sum(only_theirs.values())}, "
          f"only in routerd {sum(only_ours.values())}, truncated pages {truncated}")
    for e in list(only_theirs)[:5]:
        print("  only conntrack:", e)
    for e in list(only_ours)[:5]:
        print("  only routerd:  ", e)
    complete = filtered or count == len(mine)
    if not complete:
        print(f"  the pages hold {len(mine)} items but the table counted {count}: the slices miss entries")
    sys.exit(0 if not only_theirs and not only_ours and truncated == 0 and theirs and complete else 1)


if __name__ == "__main__":
    main()
