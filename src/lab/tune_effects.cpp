#include "lab/tune_effects.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace chimera::lab {
namespace {

using Matrix = std::vector<std::vector<double>>;

// Inverse of a symmetric positive (semi)definite matrix by Gauss-Jordan with partial pivoting;
// nullopt when a pivot is negligible against the matrix's scale (the design is singular).
std::optional<Matrix> inverse(Matrix a) {
  const size_t n = a.size();
  double scale = 0;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(a[i][i]));
  Matrix inv(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) inv[i][i] = 1.0;
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r) {
      if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
    }
    if (!(std::abs(a[pivot][col]) > scale * 1e-10)) return std::nullopt;
    std::swap(a[pivot], a[col]);
    std::swap(inv[pivot], inv[col]);
    const double d = a[col][col];
    for (size_t k = 0; k < n; ++k) {
      a[col][k] /= d;
      inv[col][k] /= d;
    }
    for (size_t r = 0; r < n; ++r) {
      if (r == col || a[r][col] == 0) continue;
      const double f = a[r][col];
      for (size_t k = 0; k < n; ++k) {
        a[r][k] -= f * a[col][k];
        inv[r][k] -= f * inv[col][k];
      }
    }
  }
  return inv;
}

Status unseparable(std::string why) {
  return Status(ErrorCode::kUnsupported, std::move(why));
}

}  // namespace

double FactorEffect::largest_effect() const {
  double out = 0;
  for (const LevelEffect& l : levels) out = std::max(out, std::abs(l.estimate));
  return out;
}

Result<EffectsResult> main_effects(const EffectsInput& in, double alpha, double level) {
  const size_t n = in.y.size();
  if (in.rows.size() != n || in.levels.size() != in.factors.size()) {
    return Status(ErrorCode::kInvalidArgument, "main_effects: rows, responses and factors disagree");
  }
  // Columns: the intercept, then one per measured non-reference level of each factor.
  struct Column {
    size_t factor;
    int level;
  };
  std::vector<Column> columns;
  EffectsResult result;
  result.n = n;
  std::vector<std::vector<size_t>> counts(in.factors.size());
  for (size_t f = 0; f < in.factors.size(); ++f) {
    counts[f].assign(in.levels[f].size(), 0);
    for (const auto& row : in.rows) ++counts[f][static_cast<size_t>(row[f])];
    if (counts[f][0] == 0) {
      return unseparable(fmt::format("{}'s reference value {} was never measured", in.factors[f],
                                     in.levels[f][0]));
    }
    for (size_t l = 1; l < in.levels[f].size(); ++l) {
      if (counts[f][l] > 0) columns.push_back({f, static_cast<int>(l)});
    }
  }
  const size_t p = columns.size() + 1;
  if (n <= p) {
    return unseparable(fmt::format(
        "{} observations for {} parameters: too few to tell the options' effects from noise", n,
        p));
  }
  Matrix x(n, std::vector<double>(p, 0.0));
  for (size_t i = 0; i < n; ++i) {
    x[i][0] = 1.0;
    for (size_t c = 0; c < columns.size(); ++c) {
      x[i][c + 1] = in.rows[i][columns[c].factor] == columns[c].level ? 1.0 : 0.0;
    }
  }
  Matrix xtx(p, std::vector<double>(p, 0.0));
  std::vector<double> xty(p, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t a = 0; a < p; ++a) {
      if (x[i][a] == 0) continue;
      xty[a] += x[i][a] * in.y[i];
      for (size_t b = 0; b < p; ++b) xtx[a][b] += x[i][a] * x[i][b];
    }
  }
  std::optional<Matrix> xtx_inv = inverse(xtx);
  if (!xtx_inv) {
    return unseparable(
        "the configurations measured cannot separate the options' effects (two options change "
        "together in every configuration measured)");
  }
  std::vector<double> beta(p, 0.0);
  for (size_t a = 0; a < p; ++a) {
    for (size_t b = 0; b < p; ++b) beta[a] += (*xtx_inv)[a][b] * xty[b];
  }
  std::vector<double> residual(n);
  double rss = 0;
  for (size_t i = 0; i < n; ++i) {
    double fit = 0;
    for (size_t a = 0; a < p; ++a) fit += x[i][a] * beta[a];
    residual[i] = in.y[i] - fit;
    rss += residual[i] * residual[i];
  }
  const double df = static_cast<double>(n - p);
  result.df_residual = static_cast<int64_t>(n - p);
  result.mean = mean(in.y);
  result.residual_sd = std::sqrt(rss / df);

  Matrix v(p, std::vector<double>(p, 0.0));  // covariance of beta
  if (in.replicated) {
    // HC3: (X'X)^-1 X' diag(e_i^2 / (1 - h_ii)^2) X (X'X)^-1.
    result.se_method = "HC3 (heteroscedasticity-robust)";
    Matrix meat(p, std::vector<double>(p, 0.0));
    for (size_t i = 0; i < n; ++i) {
      double h = 0;
      for (size_t a = 0; a < p; ++a) {
        for (size_t b = 0; b < p; ++b) h += x[i][a] * (*xtx_inv)[a][b] * x[i][b];
      }
      const double w = residual[i] * residual[i] / std::pow(std::max(1.0 - h, 1e-12), 2.0);
      for (size_t a = 0; a < p; ++a) {
        if (x[i][a] == 0) continue;
        for (size_t b = 0; b < p; ++b) meat[a][b] += w * x[i][a] * x[i][b];
      }
    }
    Matrix left(p, std::vector<double>(p, 0.0));
    for (size_t a = 0; a < p; ++a) {
      for (size_t b = 0; b < p; ++b) {
        for (size_t k = 0; k < p; ++k) left[a][b] += (*xtx_inv)[a][k] * meat[k][b];
      }
    }
    for (size_t a = 0; a < p; ++a) {
      for (size_t b = 0; b < p; ++b) {
        for (size_t k = 0; k < p; ++k) v[a][b] += left[a][k] * (*xtx_inv)[k][b];
      }
    }
  } else {
    result.se_method =
        "classical; one sample per configuration, so the noise is estimated from the residual of "
        "the main-effects model (valid only if the options do not interact)";
    const double s2 = rss / df;
    for (size_t a = 0; a < p; ++a) {
      for (size_t b = 0; b < p; ++b) v[a][b] = s2 * (*xtx_inv)[a][b];
    }
  }

  const double t_crit = student_t_quantile(0.5 + level / 2.0, df);
  std::vector<double> p_values;
  for (size_t f = 0; f < in.factors.size(); ++f) {
    FactorEffect fe;
    fe.name = in.factors[f];
    fe.reference = in.levels[f][0];
    fe.reference_n = counts[f][0];
    std::vector<size_t> idx;  // beta indices of this factor's columns
    for (size_t c = 0; c < columns.size(); ++c) {
      if (columns[c].factor != f) continue;
      const size_t b = c + 1;
      idx.push_back(b);
      LevelEffect le;
      le.level = in.levels[f][static_cast<size_t>(columns[c].level)];
      le.n = counts[f][static_cast<size_t>(columns[c].level)];
      le.estimate = beta[b];
      le.se = std::sqrt(std::max(v[b][b], 0.0));
      le.ci = Interval{le.estimate - t_crit * le.se, le.estimate + t_crit * le.se, level};
      le.p = le.se > 0 ? student_t_two_sided_p(le.estimate / le.se, df) : (le.estimate == 0 ? 1 : 0);
      le.detectable = le.se > 0 ? minimum_detectable_difference(le.se, df, alpha) : 0;
      fe.detectable = std::max(fe.detectable, le.detectable);
      fe.levels.push_back(le);
    }
    for (size_t l = 1; l < in.levels[f].size(); ++l) {
      if (counts[f][l] == 0) fe.unmeasured.push_back(in.levels[f][l]);
    }
    if (!idx.empty()) {
      // Wald: F = b' V^-1 b / q over this factor's coefficients.
      Matrix sub(idx.size(), std::vector<double>(idx.size()));
      for (size_t a = 0; a < idx.size(); ++a) {
        for (size_t b = 0; b < idx.size(); ++b) sub[a][b] = v[idx[a]][idx[b]];
      }
      std::optional<Matrix> sub_inv = inverse(sub);
      double w = 0;
      if (sub_inv) {
        for (size_t a = 0; a < idx.size(); ++a) {
          for (size_t b = 0; b < idx.size(); ++b) w += beta[idx[a]] * (*sub_inv)[a][b] * beta[idx[b]];
        }
        fe.df1 = static_cast<double>(idx.size());
        fe.df2 = df;
        fe.f = w / fe.df1;
        fe.p = f_upper_p(fe.f, fe.df1, fe.df2);
      } else {
        // No variance at all: any nonzero difference is certain, none is nothing.
        fe.p = fe.largest_effect() > 0 ? 0.0 : 1.0;
      }
      p_values.push_back(fe.p);
    }
    result.factors.push_back(std::move(fe));
  }
  std::vector<double> adjusted = holm_adjust(p_values);
  size_t k = 0;
  for (FactorEffect& fe : result.factors) {
    if (fe.levels.empty()) continue;
    fe.p_holm = adjusted[k++];
    fe.measurable = fe.p_holm < alpha;
  }
  return result;
}

}  // namespace chimera::lab
