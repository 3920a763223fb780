#include "lab/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace chimera::lab {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> sorted_copy(std::span<const double> x) {
  std::vector<double> v(x.begin(), x.end());
  std::sort(v.begin(), v.end());
  return v;
}

// Two-pass variance with the correction term (sum of deviations), so data with a large common
// offset (NIST NumAcc3/4) keeps its precision.
double sample_variance(std::span<const double> x) {
  if (x.size() < 2) return 0;
  double m = mean(x);
  double sum_sq = 0, sum_dev = 0;
  for (double v : x) {
    double d = v - m;
    sum_sq += d * d;
    sum_dev += d;
  }
  double n = static_cast<double>(x.size());
  return (sum_sq - sum_dev * sum_dev / n) / (n - 1);
}

// Continued fraction for I_x(a, b) (Abramowitz & Stegun 26.5.8), evaluated with the modified Lentz
// method. Converges quickly for x < (a + 1) / (a + b + 2); the caller uses symmetry otherwise.
double incomplete_beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-15;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    double m2 = 2.0 * m;
    // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
    double numerator = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + numerator * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + numerator / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + numerator * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + numerator / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return h;
}

// Finds x with f(x) = target for increasing f, by bracketing then bisection to full precision.
template <typename F>
double invert_increasing(F f, double target, double guess) {
  double lo = guess - 1.0, hi = guess + 1.0;
  for (int i = 0; i < 2000 && f(lo) > target; ++i) lo = guess - (guess - lo) * 2.0;
  for (int i = 0; i < 2000 && f(hi) < target; ++i) hi = guess + (hi - guess) * 2.0;
  for (int i = 0; i < 200; ++i) {
    double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (f(mid) < target) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

void resample(std::span<const double> from, SeededRng& rng, std::vector<double>& into) {
  into.resize(from.size());
  for (double& v : into) v = from[rng.below(from.size())];
}

Interval percentile_interval(std::vector<double>& statistics, double level) {
  std::sort(statistics.begin(), statistics.end());
  double alpha = 1.0 - level;
  return Interval{percentile_sorted(statistics, alpha / 2), percentile_sorted(statistics, 1 - alpha / 2),
                  level};
}

double two_sided_quantile(double level, double df) {
  return student_t_quantile(1.0 - (1.0 - level) / 2.0, df);
}

}  // namespace

uint64_t SeededRng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SeededRng::below(uint64_t n) {
  // Reject the top partial block of the 64-bit range so every residue is equally likely.
  uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t r = next();
  while (r >= limit) r = next();
  return r % n;
}

double SeededRng::uniform_open_closed() {
  // 53 random bits -> (0, 1]: never 0, so -log(u) is finite.
  return (static_cast<double>(next() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

double mean(std::span<const double> x) {
  if (x.empty()) return kNaN;
  double sum = 0;
  for (double v : x) sum += v;
  double m = sum / static_cast<double>(x.size());
  // One refinement pass removes most of the rounding error of the plain sum.
  double correction = 0;
  for (double v : x) correction += v - m;
  return m + correction / static_cast<double>(x.size());
}

double sample_sd(std::span<const double> x) { return std::sqrt(sample_variance(x)); }

double percentile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return kNaN;
  q = std::clamp(q, 0.0, 1.0);
  double h = static_cast<double>(sorted.size() - 1) * q;
  size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  double frac = h - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

double percentile(std::span<const double> x, double q) {
  std::vector<double> v = sorted_copy(x);
  return percentile_sorted(v, q);
}

double median(std::span<const double> x) { return percentile(x, 0.5); }

Summary summarize(std::span<const double> x) {
  Summary s;
  s.n = x.size();
  if (x.empty()) {
    s.mean = s.min = s.max = s.p50 = s.p90 = s.p95 = s.p99 = kNaN;
    return s;
  }
  std::vector<double> v = sorted_copy(x);
  s.mean = mean(x);
  s.sd = sample_sd(x);
  s.cv = (s.n >= 2 && s.mean != 0) ? s.sd / std::fabs(s.mean) : 0;
  s.min = v.front();
  s.max = v.back();
  s.p50 = percentile_sorted(v, 0.50);
  s.p90 = percentile_sorted(v, 0.90);
  s.p95 = percentile_sorted(v, 0.95);
  s.p99 = percentile_sorted(v, 0.99);
  return s;
}

double regularized_incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || std::isnan(x)) return kNaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                     b * std::log1p(-x);
  double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * incomplete_beta_fraction(a, b, x) / a;
  return 1.0 - front * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double normal_quantile(double p) {
  if (!(p > 0) || !(p < 1)) return p == 0 ? -kInf : (p == 1 ? kInf : kNaN);
  return invert_increasing([](double z) { return normal_cdf(z); }, p, 0.0);
}

double student_t_cdf(double t, double df) {
  if (!(df > 0) || std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  // P(T <= -|t|) = I_{df/(df+t^2)}(df/2, 1/2) / 2.
  double tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
  return t > 0 ? 1.0 - tail : tail;
}

double student_t_two_sided_p(double t, double df) {
  if (!(df > 0) || std::isnan(t)) return kNaN;
  if (std::isinf(t)) return 0.0;
  return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

double student_t_quantile(double p, double df) {
  if (!(df > 0) || !(p > 0) || !(p < 1)) return kNaN;
  if (p == 0.5) return 0.0;
  // Solve in the lower tail, where the CDF is computed without cancellation, then mirror.
  double lower = std::min(p, 1.0 - p);
  double t = invert_increasing([df](double v) { return student_t_cdf(v, df); }, lower,
                               normal_quantile(lower));
  return p < 0.5 ? t : -t;
}

double f_cdf(double f, double d1, double d2) {
  if (!(d1 > 0) || !(d2 > 0) || std::isnan(f)) return kNaN;
  if (f <= 0) return 0.0;
  if (std::isinf(f)) return 1.0;
  return regularized_incomplete_beta(d1 / 2.0, d2 / 2.0, d1 * f / (d1 * f + d2));
}

double f_upper_p(double f, double d1, double d2) {
  if (!(d1 > 0) || !(d2 > 0) || std::isnan(f)) return kNaN;
  if (f <= 0) return 1.0;
  if (std::isinf(f)) return 0.0;
  // The upper tail directly (I_x(b, a) with x = d2 / (d2 + d1 f)), not 1 - cdf: no cancellation
  // for the small p-values a real effect gives.
  return regularized_incomplete_beta(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f));
}

double minimum_detectable_difference(double se, double df, double alpha, double power) {
  if (!(se > 0) || !(df > 0) || !(alpha > 0 && alpha < 1) || !(power > 0 && power < 1)) return kNaN;
  return (student_t_quantile(1.0 - alpha / 2.0, df) + student_t_quantile(power, df)) * se;
}

std::optional<Interval> t_ci_mean(std::span<const double> x, double level) {
  if (x.size() < 2) return std::nullopt;
  double n = static_cast<double>(x.size());
  double m = mean(x);
  double half = two_sided_quantile(level, n - 1) * sample_sd(x) / std::sqrt(n);
  return Interval{m - half, m + half, level};
}

std::optional<Interval> bootstrap_ci(std::span<const double> x, const OneSampleStatistic& statistic,
                                     const BootstrapOptions& options) {
  if (x.empty() || options.iterations < 1) return std::nullopt;
  SeededRng rng(options.seed);
  std::vector<double> sample, statistics;
  statistics.reserve(static_cast<size_t>(options.iterations));
  for (int i = 0; i < options.iterations; ++i) {
    resample(x, rng, sample);
    statistics.push_back(statistic(sample));
  }
  return percentile_interval(statistics, options.level);
}

std::optional<Interval> bootstrap_ci(std::span<const double> x, std::span<const double> y,
                                     const TwoSampleStatistic& statistic,
                                     const BootstrapOptions& options) {
  if (x.empty() || y.empty() || options.iterations < 1) return std::nullopt;
  SeededRng rng(options.seed);
  std::vector<double> sample_x, sample_y, statistics;
  statistics.reserve(static_cast<size_t>(options.iterations));
  for (int i = 0; i < options.iterations; ++i) {
    resample(x, rng, sample_x);
    resample(y, rng, sample_y);
    statistics.push_back(statistic(sample_x, sample_y));
  }
  return percentile_interval(statistics, options.level);
}

std::optional<Interval> bootstrap_median_ci(std::span<const double> x, const BootstrapOptions& o) {
  return bootstrap_ci(x, [](std::span<const double> s) { return median(s); }, o);
}

std::optional<Interval> bootstrap_mean_difference_ci(std::span<const double> x,
                                                     std::span<const double> y,
                                                     const BootstrapOptions& o) {
  return bootstrap_ci(
      x, y, [](std::span<const double> a, std::span<const double> b) { return mean(a) - mean(b); },
      o);
}

std::optional<Interval> bootstrap_median_difference_ci(std::span<const double> x,
                                                       std::span<const double> y,
                                                       const BootstrapOptions& o) {
  return bootstrap_ci(
      x, y,
      [](std::span<const double> a, std::span<const double> b) { return median(a) - median(b); }, o);
}

std::optional<Interval> bootstrap_relative_mean_difference_ci(std::span<const double> x,
                                                              std::span<const double> y,
                                                              const BootstrapOptions& o) {
  if (mean(y) == 0) return std::nullopt;
  return bootstrap_ci(
      x, y,
      [](std::span<const double> a, std::span<const double> b) { return mean(a) / mean(b) - 1.0; },
      o);
}

std::optional<WelchResult> welch_t_test(std::span<const double> x, std::span<const double> y,
                                        double level) {
  if (x.size() < 2 || y.size() < 2) return std::nullopt;
  double nx = static_cast<double>(x.size()), ny = static_cast<double>(y.size());
  WelchResult r;
  r.mean_x = mean(x);
  r.mean_y = mean(y);
  r.difference = r.mean_x - r.mean_y;
  double vx = sample_variance(x) / nx, vy = sample_variance(y) / ny;
  double se = std::sqrt(vx + vy);
  if (se == 0) {  // both samples constant: the difference is exact
    r.df = nx + ny - 2;
    r.t = r.difference == 0 ? 0 : std::copysign(kInf, r.difference);
    r.p = r.difference == 0 ? 1 : 0;
    r.ci = Interval{r.difference, r.difference, level};
    return r;
  }
  r.t = r.difference / se;
  // Welch-Satterthwaite.
  r.df = (vx + vy) * (vx + vy) / (vx * vx / (nx - 1) + vy * vy / (ny - 1));
  r.p = student_t_two_sided_p(r.t, r.df);
  double half = two_sided_quantile(level, r.df) * se;
  r.ci = Interval{r.difference - half, r.difference + half, level};
  return r;
}

namespace {

struct RatioParts {
  double mx = 0, my = 0, vx = 0, vy = 0, df = 0;
};

std::optional<RatioParts> ratio_parts(std::span<const double> x, std::span<const double> y) {
  auto welch = welch_t_test(x, y);
  if (!welch) return std::nullopt;
  RatioParts p;
  p.mx = welch->mean_x;
  p.my = welch->mean_y;
  p.vx = sample_variance(x) / static_cast<double>(x.size());
  p.vy = sample_variance(y) / static_cast<double>(y.size());
  p.df = welch->df;
  return p;
}

// Ratios r with (mx - r my)^2 <= t^2 (vx + r^2 vy): a bounded interval when my^2 > t^2 vy.
std::optional<Interval> fieller_ratio(const RatioParts& p, double t, double level) {
  double a = p.my * p.my - t * t * p.vy;
  if (!(a > 0)) return std::nullopt;
  double b = p.mx * p.my;
  double c = p.mx * p.mx - t * t * p.vx;
  double disc = std::max(0.0, b * b - a * c);  // >= 0 in exact arithmetic (r = mx/my qualifies)
  double root = std::sqrt(disc);
  return Interval{(b - root) / a, (b + root) / a, level};
}

}  // namespace

RelativeInterval fieller_relative_ci(std::span<const double> x, std::span<const double> y,
                                     double level) {
  RelativeInterval out;
  auto parts = ratio_parts(x, y);
  if (!parts) {
    out.why_none = "n < 2 in an arm";
    return out;
  }
  out.df = parts->df;
  if (parts->my == 0) {
    out.why_none = "the reference mean is 0";
    return out;
  }
  out.ratio = parts->mx / parts->my;
  double t = two_sided_quantile(level, parts->df);
  auto ratio = fieller_ratio(*parts, t, level);
  if (!ratio) {
    out.why_none =
        "the reference mean is not distinguishable from 0 at this n (unbounded interval)";
    return out;
  }
  out.ci = Interval{ratio->lower - 1, ratio->upper - 1, level};
  return out;
}

std::optional<EquivalenceResult> tost_relative(std::span<const double> x, std::span<const double> y,
                                               double margin, double alpha) {
  auto parts = ratio_parts(x, y);
  if (!parts || !(parts->my > 0) || !(margin > 0) || !(alpha > 0 && alpha < 0.5)) {
    return std::nullopt;
  }
  EquivalenceResult r;
  r.margin = margin;
  auto one_sided = [&](double bound, bool above) {
    double diff = parts->mx - bound * parts->my;
    double se = std::sqrt(parts->vx + bound * bound * parts->vy);
    if (se == 0) return (above ? diff > 0 : diff < 0) ? 0.0 : 1.0;
    double t = diff / se;
    return above ? 1 - student_t_cdf(t, parts->df) : student_t_cdf(t, parts->df);
  };
  r.p_lower = one_sided(1 - margin, true);   // H0: ratio <= 1 - margin
  r.p_upper = one_sided(1 + margin, false);  // H0: ratio >= 1 + margin
  r.p = std::max(r.p_lower, r.p_upper);
  r.equivalent = r.p < alpha;
  double level = 1 - 2 * alpha;
  if (parts->vx + parts->vy == 0) {
    double ratio = parts->mx / parts->my;
    r.ci = Interval{ratio - 1, ratio - 1, level};
  } else if (auto ratio = fieller_ratio(*parts, two_sided_quantile(level, parts->df), level)) {
    r.ci = Interval{ratio->lower - 1, ratio->upper - 1, level};
  }
  return r;
}

std::optional<PairedResult> paired_difference(std::span<const double> x, std::span<const double> y,
                                              double level) {
  if (x.size() != y.size() || x.size() < 2) return std::nullopt;
  std::vector<double> d(x.size());
  for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] - y[i];
  PairedResult r;
  r.n = d.size();
  r.mean_difference = mean(d);
  r.sd_difference = sample_sd(d);
  r.df = static_cast<double>(r.n) - 1;
  double se = r.sd_difference / std::sqrt(static_cast<double>(r.n));
  if (se == 0) {
    r.t = r.mean_difference == 0 ? 0 : std::copysign(kInf, r.mean_difference);
    r.p = r.mean_difference == 0 ? 1 : 0;
    r.ci = Interval{r.mean_difference, r.mean_difference, level};
    return r;
  }
  r.t = r.mean_difference / se;
  r.p = student_t_two_sided_p(r.t, r.df);
  double half = two_sided_quantile(level, r.df) * se;
  r.ci = Interval{r.mean_difference - half, r.mean_difference + half, level};
  return r;
}

namespace {

// Null distribution of U for sizes (m, n) without ties: counts[u] = number of arrangements with
// U = u. Recurrence on the largest observation: if it is one of the m, it beats all n others.
std::vector<long double> mann_whitney_counts(size_t m, size_t n) {
  // row[j][u] holds counts for sizes (i, j) while i advances; all additions, no cancellation.
  std::vector<std::vector<long double>> row(n + 1);
  for (size_t j = 0; j <= n; ++j) row[j].assign(1, 1.0L);  // i = 0: U = 0 in one way
  for (size_t i = 1; i <= m; ++i) {
    std::vector<std::vector<long double>> next(n + 1);
    next[0].assign(1, 1.0L);  // j = 0: U = 0
    for (size_t j = 1; j <= n; ++j) {
      next[j].assign(i * j + 1, 0.0L);
      const auto& largest_in_x = row[j];     // sizes (i-1, j), shifted by j
      const auto& largest_in_y = next[j - 1];  // sizes (i, j-1)
      for (size_t u = 0; u < largest_in_x.size(); ++u) next[j][u + j] += largest_in_x[u];
      for (size_t u = 0; u < largest_in_y.size(); ++u) next[j][u] += largest_in_y[u];
    }
    row = std::move(next);
  }
  return row[n];
}

}  // namespace

std::optional<MannWhitneyResult> mann_whitney_u(std::span<const double> x,
                                                std::span<const double> y) {
  if (x.empty() || y.empty()) return std::nullopt;
  size_t nx = x.size(), ny = y.size(), total = nx + ny;
  std::vector<std::pair<double, bool>> all;  // value, from x
  all.reserve(total);
  for (double v : x) all.emplace_back(v, true);
  for (double v : y) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum_x = 0, tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < total;) {
    size_t j = i;
    while (j < total && all[j].first == all[i].first) ++j;
    double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    double tied = static_cast<double>(j - i);
    if (j - i > 1) ties = true;
    tie_term += tied * tied * tied - tied;
    for (size_t k = i; k < j; ++k) {
      if (all[k].second) rank_sum_x += average_rank;
    }
    i = j;
  }
  double fx = static_cast<double>(nx), fy = static_cast<double>(ny), fn = static_cast<double>(total);
  MannWhitneyResult r;
  r.u = rank_sum_x - fx * (fx + 1) / 2;
  if (!ties && nx < 50 && ny < 50) {
    std::vector<long double> counts = mann_whitney_counts(nx, ny);
    long double all_ways = 0, at_most = 0, at_least = 0;
    size_t u = static_cast<size_t>(std::llround(r.u));
    for (size_t k = 0; k < counts.size(); ++k) {
      all_ways += counts[k];
      if (k <= u) at_most += counts[k];
      if (k >= u) at_least += counts[k];
    }
    double p = static_cast<double>(2.0L * std::min(at_most, at_least) / all_ways);
    r.p = std::min(p, 1.0);
    r.exact = true;
    return r;
  }
  double sigma = std::sqrt(fx * fy / 12.0 * ((fn + 1) - tie_term / (fn * (fn - 1))));
  double centered = r.u - fx * fy / 2.0;
  if (sigma == 0) {
    r.z = 0;
    r.p = 1;
    return r;
  }
  double continuity = centered > 0 ? 0.5 : (centered < 0 ? -0.5 : 0.0);
  r.z = (centered - continuity) / sigma;
  r.p = std::min(1.0, 2.0 * std::min(normal_cdf(r.z), 1.0 - normal_cdf(r.z)));
  return r;
}

std::vector<double> holm_adjust(std::span<const double> p) {
  size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(m);
  double running = 0;
  for (size_t k = 0; k < m; ++k) {
    double adjusted = std::min(1.0, static_cast<double>(m - k) * p[order[k]]);
    running = std::max(running, adjusted);
    out[order[k]] = running;
  }
  return out;
}

std::optional<double> hedges_g(std::span<const double> x, std::span<const double> y) {
  double nx = static_cast<double>(x.size()), ny = static_cast<double>(y.size());
  double df = nx + ny - 2;
  if (x.size() < 2 || y.size() < 2 || df < 2) return std::nullopt;
  double pooled = std::sqrt(((nx - 1) * sample_variance(x) + (ny - 1) * sample_variance(y)) / df);
  if (pooled == 0) return std::nullopt;
  double d = (mean(x) - mean(y)) / pooled;
  double correction =
      std::exp(std::lgamma(df / 2) - 0.5 * std::log(df / 2) - std::lgamma((df - 1) / 2));
  return d * correction;
}

}  // namespace chimera::lab
