"""Target-sparsity mode: steer ``l0_lambda`` so that the global sparsity lands on a target.

LTP's lambda (eq. 9) sets how hard the soft L0 pushes the thresholds up, but the sparsity it
ends at depends on the network, the data and the budget: a 10x change of lambda can flip from
"prunes nothing" to "empties a layer". In target-sparsity mode lambda is instead adjusted
during soft pruning by a controller on the measured global sparsity (eq. 1 over every pruned
tensor), which follows a ramp to the target; the per-layer split is still learned by LTP.

Pure Python and NumPy: ``LTPPruningSchedule`` measures the sparsity and applies the factors;
``ltp_tf.hard_prune(model, target_sparsity=...)`` applies the landing.
"""

import math

import numpy as np

# ``LambdaController.lag_message``: lambda grew at least this much, and "on target" is within
# this factor of the target's keep ratio.
LAG_GROWTH = 10.0
ON_TARGET = 1.05
# ``LambdaController``'s start: lambda is multiplied by ``search_factor`` per control step
# while the sparsity is behind the ramp, at most this much in all.
MAX_SEARCH_GROWTH = 1e6


def check_target_sparsity(target_sparsity, name="target_sparsity"):
  """Raises a ValueError unless ``target_sparsity`` is None or a number in [0, 1)."""
  if target_sparsity is None:
    return
  if isinstance(target_sparsity, bool) or not isinstance(target_sparsity, (int, float)):
    raise TypeError(f"{name} must be a number in [0, 1), got {target_sparsity!r}")
  if not 0.0 <= target_sparsity < 1.0:
    raise ValueError(f"{name} must be in [0, 1) (a fraction of the prunable weights, e.g. "
                     f"0.9 for 90 %), got {target_sparsity}")


def ramp(step, reach_step, target, start_step=0):
  """Sparsity to have reached at ``step``: the cubic ramp of Zhu & Gupta (2017), 0 at
  ``start_step`` (and before), ``target`` from ``reach_step`` on (steep first, when the network
  is most redundant)."""
  if step >= reach_step:
    return float(target)
  done = max(0.0, (step - start_step) / (reach_step - start_step))
  return float(target) * (1.0 - (1.0 - done) ** 3)


class LambdaController:
  """Integral control of ``log(lambda)`` on the smoothed sparsity error.

  At each control step the measured sparsity is smoothed (exponential moving average with
  weight ``smoothing`` on the new value: LTP's thresholds oscillate around their balance
  point, and the controller must follow the trend, not the oscillation), and ``log(lambda)``
  moves by ``gain * log(kept / wanted)``, the error in log keep ratio (``kept = 1 - smoothed
  sparsity``, ``wanted = 1 - ramp(step)``), limited to ``log(max_factor)`` either way.
  Multiplying lambda (rather than adding to it) lets one controller work at every scale of
  lambda, which spans decades between networks and optimizers.

  The start is a search. Lambda starts at the user's (or the default) value, but where a
  network balances lies decades apart between networks (``l0_fraction``: 0.002-0.2 on
  LeNet-300-100, 7 on mobilenetv2_compact, 45 at half its width, BENCHMARKS.md finding 8), and
  at ``max_factor`` per control step a short soft phase is over before lambda gets there. So
  lambda is searched for: in the first ``search_window`` control steps, lambda is multiplied
  by ``search_factor`` at every control step where the sparsity is behind the ramp and not
  closing in on it fast enough to be there by the next one, and a search still on when the
  window closes goes on until the sparsity is on or ahead of the ramp (or closing in that
  fast). Where the sparsity keeps up with the ramp through the window, lambda started high
  enough and is never searched for. Why a window, not just the first steps: what a soft
  phase prunes in its first steps at any lambda can put the sparsity ahead of a gentle
  ramp's start and behind it two steps later, and a sparsity that jumps as the thresholds
  answer a new lambda can look like catching up and then fall behind again (BENCHMARKS.md,
  finding 10).

  Args:
    target: the final global sparsity, in [0, 1).
    reach_step: the optimizer step by which the ramp reaches ``target``.
    start_step: the optimizer step where the ramp starts from 0 (may be negative: a ramp
      already under way); below ``reach_step``.
    gain: integral gain, per control step and unit of log keep-ratio error.
    smoothing: weight of the newest measurement in the moving average, in (0, 1].
    max_factor: the largest factor lambda may change by in one control step.
    hold_horizon: lambda is held while the gap closes at a pace that would close it within
      this many control steps.
    min_scale: lambda never falls below ``min_scale`` times its value when the controller
      started (anti-windup). Where the thresholds' own noise prunes faster than the ramp,
      cutting lambda changes nothing, and an unbounded cut (measured: 1e-6 -> 3e-30 in 8
      epochs on LeNet-300-100) leaves lambda decades too small when the ramp catches up: the
      soft phase then ends short of the target and the landing has to do the rest.
    search_factor: lambda's factor per control step during the search (see above); 1 turns
      the search off, and lambda then starts climbing at ``max_factor`` per control step.
    search_window: how many control steps, from the first, lambda may be searched for.
  """

  def __init__(self, target, reach_step, gain=0.3, smoothing=0.6, max_factor=1.5,
               start_step=0, hold_horizon=5, min_scale=1e-3, search_factor=4.0,
               search_window=5):
    check_target_sparsity(target)
    for name, value in (("reach_step", reach_step), ("start_step", start_step)):
      if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if reach_step < 1 or reach_step <= start_step:
      raise ValueError(f"reach_step must be a positive int above start_step ({start_step}), "
                       f"got {reach_step!r}")
    if not 0.0 < smoothing <= 1.0:
      raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
    self.target = float(target)
    self.reach_step = reach_step
    self.start_step = start_step
    self.gain = float(gain)
    self.smoothing = float(smoothing)
    self.max_log_step = math.log(max_factor)
    if not hold_horizon > 0:
      raise ValueError(f"hold_horizon must be > 0, got {hold_horizon}")
    self.hold_horizon = float(hold_horizon)
    if not 0.0 < min_scale <= 1.0:
      raise ValueError(f"min_scale must be in (0, 1], got {min_scale}")
    self.min_log_scale = math.log(min_scale)
    if isinstance(search_factor, bool) or not isinstance(search_factor, (int, float)) or not (
        search_factor >= 1.0):
      raise ValueError(f"search_factor must be a number >= 1 (1: no search), got "
                       f"{search_factor!r}")
    if isinstance(search_window, bool) or not isinstance(search_window, int) or search_window < 1:
      raise ValueError(f"search_window must be an int >= 1 (control steps), got "
                       f"{search_window!r}")
    self._search_log_step = math.log(search_factor)
    self._search_on = False
    self._search_window_left = search_window if search_factor > 1.0 else 0
    self._previous_raw_gap = None
    self._log_scale = 0.0  # log(lambda now / lambda at the start), from the factors given.
    self._smoothed = None
    self._previous_gap = None
    self.reached_step = None  # The first control step whose measured sparsity was on target.
    self.last_step = None

  @property
  def searching(self):
    """Whether lambda may still be searched for: inside the window, or a search still on."""
    return self._search_window_left > 0 or self._search_on

  def factor(self, step, sparsity):
    """The factor to multiply lambda by, given the measured ``sparsity`` at ``step``."""
    sparsity = float(sparsity)
    self.last_step = step
    if self.reached_step is None and 1.0 - sparsity <= (1.0 - self.target) * ON_TARGET:
      self.reached_step = step
    if self._smoothed is None:
      self._smoothed = sparsity
    self._smoothed += self.smoothing * (sparsity - self._smoothed)
    # Error in log keep ratio: 4 % kept against a target of 2 % is as far off as 40 % against
    # 20 %, and needs as large a change of lambda.
    wanted = 1.0 - ramp(step, self.reach_step, self.target, self.start_step)
    log_gap = lambda measured: math.log(max(1.0 - measured, 1e-9) / wanted)  # noqa: E731
    gap = log_gap(self._smoothed)
    previous, self._previous_gap = self._previous_gap, gap
    if self.searching:
      # On the newest measurement, not the average: the average lags, and a search that goes
      # on while the sparsity is already rising fast overshoots lambda by a decade.
      raw_gap = log_gap(sparsity)
      closing = self._previous_raw_gap - raw_gap if self._previous_raw_gap is not None else 0.0
      self._previous_raw_gap = raw_gap
      # Behind, and not closing in fast enough to be on the ramp by the next control step
      # (the thresholds answer lambda within about one control step).
      behind = (raw_gap > 0 and closing < raw_gap and
                self._log_scale < math.log(MAX_SEARCH_GROWTH))
      in_window = self._search_window_left > 0
      self._search_window_left -= 1
      if behind and (in_window or self._search_on):
        self._search_on = True
        self._log_scale += self._search_log_step
        return math.exp(self._search_log_step)
      self._search_on = False
    if (previous is not None and gap * previous > 0 and
        abs(gap) <= self.hold_horizon * (abs(previous) - abs(gap))):
      # Closing in on the ramp fast enough to be there within ``hold_horizon`` control steps:
      # hold lambda (conditional integration, no wind-up). Closing more slowly than that is
      # not closing in: a sparsity creeping towards a flat ramp would otherwise hold a too
      # small lambda for the rest of the soft phase and leave the landing all the work.
      return 1.0
    log_step = max(-self.max_log_step, min(self.max_log_step, self.gain * gap))
    log_step = max(log_step, self.min_log_scale - self._log_scale)  # The floor.
    self._log_scale += log_step
    return math.exp(log_step)

  def lag_message(self, l0_lambda):
    """None, or what to do where lambda started far below the network's balance.

    The start's search takes lambda near the network's balance, but where it never started
    (the sparsity ahead of the ramp through the search's window, then behind; before the
    window, the half-width compact networks at 2x, BENCHMARKS.md finding 9) or hit its cap,
    each control step moves lambda by at most ``max_factor``, and on a short soft phase the
    sparsity lags the ramp and reaches the target only as the soft phase ends, leaving little
    training at it.
    That is reported when lambda has grown ``LAG_GROWTH``-fold or more and the target was
    reached (within 5 % of its keep ratio) in the last half of the time between the ramp's
    end and now, or not at all; ``l0_lambda`` (lambda now) is the start to suggest.
    """
    if self.last_step is None or self.last_step <= self.reach_step:
      return None
    growth = math.exp(self._log_scale)
    late = self.reach_step + (self.last_step - self.reach_step) / 2
    if growth < LAG_GROWTH or (self.reached_step is not None and self.reached_step <= late):
      return None
    when = (f"only at step {self.reached_step}" if self.reached_step is not None else
            f"not by step {self.last_step} (the landing did the rest)")
    return (f"the sparsity reached the target {when}, though the ramp reached it at step "
            f"{self.reach_step}: lambda had to grow {growth:.0f}x from its start, and the "
            "controller took most of the soft phase to raise it, so little training was left "
            "at the target. For this network and budget, start lambda nearer where it ended, "
            f"e.g. prune_low_magnitude_learned(..., l0_lambda={l0_lambda:.2g}) (the logs' "
            "last l0_lambda).")


def landing_scale(squares, taus, target):
  """The one factor ``c`` such that thresholds ``c * tau`` give global sparsity ``target``.

  A weight ``w`` of a tensor with threshold ``tau`` is kept iff ``w**2 / tau > c``: the
  landing is a global magnitude prune in each tensor's own learned units, so every threshold
  moves by the same factor and the learned ratios between them stay as learned.

  Args:
    squares: per tensor, its w**2 values (flat arrays).
    taus: per tensor, its learned threshold.
    target: global sparsity in [0, 1).

  Returns:
    ``c``, or None where no factor can land (a tensor whose threshold is still 0 keeps every
    weight whatever ``c``, and those weights alone exceed the target's count).
  """
  check_target_sparsity(target)
  wanted = int(round((1.0 - target) * sum(s.size for s in squares)))
  with np.errstate(divide="ignore", invalid="ignore"):
    ratios = np.concatenate([np.where(s > 0, s / max(float(t), 0.0), 0.0)
                             for s, t in zip(squares, taus)])
  if wanted < np.count_nonzero(np.isinf(ratios)):
    return None
  scale = threshold_for_count(ratios, wanted)
  return scale if math.isfinite(scale) else None


def landing_counts(kept, sizes, target):
  """Kept weights per tensor after landing the global sparsity on ``target``.

  Every tensor's kept count is multiplied by one factor (capped at its size, the excess going
  to the others), so LTP's learned split between tensors is kept as learned: a tensor keeping
  twice as many weights as another before landing keeps twice as many after, a fully pruned
  tensor stays fully pruned and no kept tensor is emptied.

  Args:
    kept: kept weights per tensor, as learned (eq. 1).
    sizes: weights per tensor.
    target: global sparsity in [0, 1).

  Returns:
    An int array: kept weights per tensor, summing to ``round((1 - target) * sum(sizes))``
    (or as near as the caps and the fully pruned tensors allow).
  """
  check_target_sparsity(target)
  kept = np.asarray(kept, dtype=np.float64)
  sizes = np.asarray(sizes, dtype=np.int64)
  if np.any(kept < 0) or np.any(kept > sizes):
    raise ValueError(f"kept counts {kept.tolist()} must lie in [0, sizes {sizes.tolist()}]")
  wanted = int(round((1.0 - target) * sizes.sum()))
  capped = np.zeros(len(sizes), dtype=bool)
  new = kept.copy()
  for _ in range(len(sizes) + 1):  # Water-filling: each round caps at least one tensor.
    free_kept = kept[~capped].sum()
    factor = (wanted - sizes[capped].sum()) / free_kept if free_kept > 0 else 0.0
    new = np.where(capped, sizes, kept * max(factor, 0.0))
    over = ~capped & (new > sizes)
    if not over.any():
      break
    capped |= over
  # Integers with the same sum (largest remainders), at least 1 where anything was kept.
  counts = np.floor(new).astype(np.int64)
  counts = np.where((kept > 0) & (counts == 0), 1, counts)
  order = np.argsort(-(new - np.floor(new)))
  for i in order:
    if counts.sum() >= min(wanted, int(sizes[kept > 0].sum())):
      break
    if counts[i] < sizes[i] and kept[i] > 0:
      counts[i] += 1
  return counts


def threshold_for_count(w2, count):
  """A threshold on the w**2 scale that keeps exactly the ``count`` largest of ``w2`` (up to
  ties): halfway, geometrically, between the last kept and the first dropped value."""
  w2 = np.sort(np.asarray(w2, dtype=np.float64).ravel())[::-1]
  if count <= 0:
    return 2.0 * float(w2[0]) if w2.size and w2[0] > 0 else 1.0
  if count >= w2.size or w2[count] <= 0:
    return float(w2[min(count, w2.size) - 1]) / 2.0
  return math.sqrt(float(w2[count - 1]) * float(w2[count]))
