import numpy as np
import pytest
from pydantic import ValidationError
from scipy.optimize import linprog

from uspec_audit.stats.rex import rex_criteria, select
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings


def test_rex_hand_worked():
    risks = np.array([[0.2, 0.4, 0.9], [0.5, 0.5, 0.5]])
    res = rex_criteria(risks, lambda_min=-1.0)
    np.testing.assert_allclose(res.ri, [0.9, 0.5])
    np.testing.assert_allclose(res.v_rex, [np.var([0.2, 0.4, 0.9]), 0.0])
    # (1 - 3 * -1) * 0.9 - 1.5 = 2.1 ; (4) * 0.5 - 1.5 = 0.5
    np.testing.assert_allclose(res.mm_rex, [2.1, 0.5])
    assert select(res) == {"erm": 0, "v_rex": 1, "ri": 1, "mm_rex": 1}
    np.testing.assert_allclose(rex_criteria(risks, 0.0).mm_rex, res.ri)  # lambda_min = 0 is RI
    with pytest.raises(ValueError):
        rex_criteria(risks, 0.5)


def test_mm_rex_equals_the_affine_maximum_of_eq_5_6():
    rng = np.random.default_rng(0)
    risks = rng.random((4, 5))
    lam = -0.7
    res = rex_criteria(risks, lam)
    for m in range(4):
        # max_{sum l = 1, l_e >= lam} sum_e l_e R_e (thesis Eq. 5.6), as a linear program
        lp = linprog(-risks[m], A_eq=np.ones((1, 5)), b_eq=[1.0], bounds=[(lam, None)] * 5)
        assert res.mm_rex[m] == pytest.approx(-lp.fun)


def test_rng_for_is_stable_and_separates_names():
    a = rng_for(20201106, "perm", "cnn", "iid").integers(0, 2**31, 4)
    b = rng_for(20201106, "perm", "cnn", "iid").integers(0, 2**31, 4)
    np.testing.assert_array_equal(a, b)
    # a fixed value guards against accidental changes of the derivation (bit-identical re-runs)
    assert int(rng_for(1, "x").integers(0, 2**31)) == 774899076
    assert not np.array_equal(rng_for(1, "ab", "c").random(4), rng_for(1, "a", "bc").random(4))
    assert not np.array_equal(rng_for(1, "x").random(4), rng_for(2, "x").random(4))


def test_settings_model():
    s = AnalysisSettings()
    assert (s.alpha, s.min_members, s.min_excess_ratio, s.permutations, s.bootstrap, s.rex_lambda_min) == (
        0.05,
        5,
        0.5,
        10000,
        2000,
        -1.0,
    )
    for name, field in AnalysisSettings.model_fields.items():
        assert field.description, name
    with pytest.raises(ValidationError):
        AnalysisSettings(unknown=1)
    with pytest.raises(ValidationError):
        AnalysisSettings(rex_lambda_min=0.5)
    assert AnalysisSettings.model_validate(s.model_dump()) == s


@pytest.mark.parametrize(
    "field, value",
    [
        ("calibration_bins", 2e9),
        ("permutations", 10**12),
        ("bootstrap", 10**9),
        ("member_bootstrap", -1),
        ("marginalization_subsets", 0),
        ("pca_components", 10**6),
        ("jackknife_blocks", 10**9),
        ("chunk_size", 10**10),
        ("min_members", 2),
        ("max_correlation_units", 1),
    ],
)
def test_sizes_out_of_range_are_validation_errors_not_allocations(field, value):
    with pytest.raises(ValidationError) as err:
        AnalysisSettings(**{field: value})
    assert field in str(err.value)
