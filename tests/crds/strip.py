"""Writes an upstream CustomResourceDefinition as schema data only.

    python tests/crds/strip.py UPSTREAM.yaml --source TEXT --license SPDX [--crd NAME]... [--note TEXT]... > OUT.yaml

Reads the CRDs in UPSTREAM.yaml (several documents; with --crd, only those whose metadata.name or
spec.names.plural is NAME), drops every `description` key (the upstream prose; a schema property
that happens to be called `description` is kept), and writes them with a header naming the source
and its license. Everything else is upstream's, unchanged: types, required fields, enums,
patterns, formats, limits, x-kubernetes-validations (CEL rules) and the other x-kubernetes-*
markers. The output is checked to load back to exactly the stripped documents.

Python standard library and PyYAML (tests/requirements.txt) only, e.g.

    .venv/bin/python tests/crds/strip.py crd-all.gen.yaml --crd authorizationpolicies.security.istio.io \\
        --source "istio/istio manifests/charts/base/files/crd-all.gen.yaml at commit <sha>" \\
        --license Apache-2.0 > tests/crds/istio-authorizationpolicies.yaml
"""
import argparse
import sys

import yaml


def strip(node, in_properties=False):
    """`node` without `description` keys; inside a `properties` map the keys are field names."""
    if isinstance(node, dict):
        return {
            k: strip(v, k == "properties" and not in_properties)
            for k, v in node.items()
            if in_properties or k != "description"
        }
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


class Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    # Multi-line strings (CEL rules) as literal blocks, as upstream writes them, where YAML allows.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("upstream", help="upstream CRD file (YAML, one or more documents)")
    p.add_argument("--source", required=True, help="where and at which version it was taken")
    p.add_argument("--license", required=True, help="the upstream project's license (SPDX)")
    p.add_argument("--crd", action="append", default=[], help="keep only this CRD (repeatable)")
    p.add_argument("--note", action="append", default=[], help="a further header line (repeatable)")
    args = p.parse_args(argv)

    with open(args.upstream) as f:
        docs = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "CustomResourceDefinition"]
    if args.crd:
        docs = [
            d for d in docs
            if d["metadata"]["name"] in args.crd or d["spec"]["names"]["plural"] in args.crd
        ]
        found = {n for d in docs for n in (d["metadata"]["name"], d["spec"]["names"]["plural"])}
        missing = [c for c in args.crd if c not in found]
        if missing:
            sys.exit(f"{args.upstream}: no CRD named {', '.join(missing)}")
    if not docs:
        sys.exit(f"{args.upstream}: no CustomResourceDefinition")
    docs = [strip(d) for d in docs]

    names = ", ".join(d["metadata"]["name"] for d in docs)
    header = [
        f"{names}: schema data only.",
        f"Source: {args.source}.",
        *args.note,
        f"License: {args.license}, as the upstream project; the upstream `description` texts are",
        "removed (tests/crds/strip.py), everything else (types, required fields, enums, patterns,",
        "x-kubernetes-validations) is unchanged. Regenerate with tests/crds/strip.py; do not edit.",
    ]
    body = yaml.dump_all(
        docs, Dumper=Dumper, sort_keys=False, explicit_start=True, width=1 << 16, allow_unicode=True
    )
    if list(yaml.safe_load_all(body)) != docs:
        sys.exit("internal error: the written YAML does not load back to the stripped CRDs")
    sys.stdout.write("".join(f"# {line}\n" for line in header) + body)


if __name__ == "__main__":
    main(sys.argv[1:])
