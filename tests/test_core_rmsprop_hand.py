"""The RMSprop step of the main job, by hand: v ← ρv + (1−ρ)g², θ ← θ − α·g/(√v + ε), v₀ = 0."""

import math

import numpy as np
import pytest

from rmsbt import RMSprop


def test_one_step_by_hand():
    # θ0 = 1, g = 0.1, α = 0.01, ρ = 0.9, ε = 1e-8
    # v1 = 0.9·0 + 0.1·0.1² = 0.001; √v1 = 0.0316227766...
    # θ1 = 1 − 0.01·0.1/(0.0316227766 + 1e-8) = 1 − 0.0316227666 = 0.9683772334
    opt = RMSprop(lr=0.01, decay=0.9, eps=1e-8)
    theta = np.array([1.0])
    opt.step(theta, np.array([0.1]))
    assert opt.state.v[0] == pytest.approx(0.001, abs=1e-18)
    assert theta[0] == pytest.approx(1 - 0.001 / (math.sqrt(0.001) + 1e-8), abs=1e-15)
    assert theta[0] == pytest.approx(0.96837723, abs=1e-8)  # BR-40's value for ε = 1e-8


def test_three_steps_by_hand_two_parameters():
    # parameter 0: constant g = 0.1
    #   v = 0.001, 0.0019, 0.00271;  steps 0.001/√v: 0.0316228, 0.0229416, 0.0192095
    #   θ: 0.96837723, 0.94543566, 0.92622620 (BR-43's "without decay" value)
    # parameter 1: g = 2, −2, 2 from θ = 0
    #   v = 0.4, 0.76, 1.084;  θ = −0.01·2/√0.4, then +0.01·2/√0.76, then −0.01·2/√1.084
    opt = RMSprop(lr=0.01, decay=0.9, eps=1e-8)
    theta = np.array([1.0, 0.0])
    for g1 in (2.0, -2.0, 2.0):
        opt.step(theta, np.array([0.1, g1]))
    assert opt.state.v == pytest.approx([0.00271, 1.084], rel=1e-14)
    assert theta[0] == pytest.approx(0.92622620, abs=1e-8)
    expected1 = (-0.02 / (math.sqrt(0.4) + 1e-8) + 0.02 / (math.sqrt(0.76) + 1e-8)
                 - 0.02 / (math.sqrt(1.084) + 1e-8))
    assert theta[1] == pytest.approx(expected1, abs=1e-15)
    assert opt.state.step == 3
    # effective step sizes lr/(√v + ε) after the third step
    assert opt.effective_lr() == pytest.approx([0.01 / (math.sqrt(0.00271) + 1e-8),
                                                0.01 / (math.sqrt(1.084) + 1e-8)], rel=1e-14)


def test_step_is_in_place_and_returns_params():
    opt = RMSprop(lr=0.1, decay=0.5)
    theta = np.array([3.0])
    out = opt.step(theta, np.array([1.0]))
    assert out is theta and theta[0] != 3.0
