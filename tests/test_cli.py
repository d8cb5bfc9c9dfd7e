"""The `conformers` command line, end to end on real RDKit molecules and SDF files."""
import subprocess
import sys

from rdkit import Chem

from conformers.cli.main import main


def test_generate_writes_sdf(tmp_path, capsys):
    out = tmp_path / "aspirin.sdf"
    assert main(["generate", "CC(=O)Oc1ccccc1C(=O)O", "-n", "4", "-o", str(out)]) == 0
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert len(mols) == 4 and all(m.GetNumConformers() == 1 for m in mols)
    assert mols[0].GetProp("_Name") == "CC(=O)Oc1ccccc1C(=O)O"
    assert "wrote 4 conformers" in capsys.readouterr().out


def test_invalid_smiles_is_a_clear_error(tmp_path):
    out = tmp_path / "x.sdf"
    result = subprocess.run([sys.executable, "-m", "conformers.cli.main", "generate", "C1CC(", "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid SMILES: 'C1CC('" in result.stderr and not out.exists()
