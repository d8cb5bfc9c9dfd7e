#!/bin/sh
# Rebuilds data/nci-xtb/{qm9,drugs} (cache + split.json) from the nci-xtb reference set, a GEOM
# rdkit_folder-layout release built with GFN2-xTB from RDKit's NCI molecules (see its README).
# Deterministic: the cache is sorted by SMILES and the split is seeded.
set -e
GEOM=${1:-../shared/data/nci-xtb}
cd "$(dirname "$0")/../.."
for subset in qm9 drugs; do
  rm -rf "data/nci-xtb/$subset"
  conformers data prepare --geom "$GEOM" --name "$subset" --out "data/nci-xtb/$subset" --workers 2 --quiet
  conformers data split --cache "data/nci-xtb/$subset" --out "data/nci-xtb/$subset/split.json" \
    --train all --val 0.1 --test 0.1 --min-train-conformers 1 --test-min-conformers 2 --seed 0
done
