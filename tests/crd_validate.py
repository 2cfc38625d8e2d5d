"""Validates Kubernetes objects (YAML, several documents) against CRD schemas.

    python tests/crd_validate.py CRD.yaml [CRD.yaml...] -- OBJECTS.yaml [OBJECTS.yaml...]

Each object whose apiVersion/kind a CRD defines is checked against that version's
openAPIV3Schema (JSON Schema; the x-kubernetes-* extensions are ignored). Objects of kinds no
given CRD defines are listed as skipped. Exit 1 on the first invalid object.
"""
import sys

import jsonschema
import yaml


def schemas(paths):
    out = {}
    for path in paths:
        for crd in yaml.safe_load_all(open(path)):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                out[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return out


def main(argv):
    split = argv.index("--")
    known = schemas(argv[:split])
    checked = 0
    for path in argv[split + 1:]:
        for obj in yaml.safe_load_all(open(path)):
            if not obj:
                continue
            key = (obj.get("apiVersion"), obj.get("kind"))
            schema = known.get(key)
            name = f"{key[1]} {obj.get('metadata', {}).get('name')}"
            if schema is None:
                print(f"skipped {name}: no CRD given for {key[0]}")
                continue
            try:
                jsonschema.validate(obj, schema)
            except jsonschema.ValidationError as e:
                print(f"INVALID {name} ({path}): {e.message} at {'/'.join(map(str, e.absolute_path))}")
                return 1
            checked += 1
            print(f"valid {name}")
    print(f"{checked} objects valid")
    return 0 if checked else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
