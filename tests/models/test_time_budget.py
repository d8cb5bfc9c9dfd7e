"""Every learned model's sampling honours the per-molecule time budget (`generate --timeout`,
ConformerModel.timeout): past it a molecule gets a SamplingTimeout in its place, never a hang;
without one, sampling is untouched (issue 20)."""
import pytest
from rdkit import Chem

from conformers.models.base import SamplingTimeout, check_time_budget, time_budget

from .small import SMALL, small

MOLS = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1O")]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sampling_past_its_budget_fails_each_molecule_by_name(name):
    model = small(name)
    assert all(isinstance(m, Chem.Mol) and m.GetNumConformers() == 2 for m in model.sample(MOLS, 2))
    model.timeout = 1e-9  # spent before the first step's check
    for result in model.sample(MOLS, 2):
        assert isinstance(result, SamplingTimeout) and "time budget of 1e-09 s per molecule" in str(result)


def test_the_budget_is_scoped_to_its_block():
    check_time_budget()  # no budget: a no-op
    with pytest.raises(SamplingTimeout):
        with time_budget(0.0):
            check_time_budget()
    with time_budget(None):
        check_time_budget()
    check_time_budget()
