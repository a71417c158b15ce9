## Reference values from R's make.link() and family objects, for tests/test_links.py and
## tests/test_families.py.
##
## Run from anywhere:   Rscript tests/r/links_families_reference.R
## Writes:  tests/r/links_families_reference.json
##
## Numbers are written as strings ("%.17g", or "Inf", "-Inf", "NaN") so that the
## non-finite values R returns at the extremes survive the trip through JSON.
## base R has no "loglog" link; it is tested in Python as the mirror image of cloglog.

suppressPackageStartupMessages(library(MASS))  # negative.binomial(theta)
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))

num <- function(x) as.list(ifelse(is.finite(x), sprintf("%.17g", x), as.character(x)))
eps <- .Machine$double.eps

## ---- links ------------------------------------------------------------------
eta_grid <- c(-1e300, -1e3, -700, -40, -36.5, -30.5, -30, -29.5, -8.2, -5, -1, -0.3, -1e-300,
              0, 1e-300, 0.3, 1, 3.5, 5, 8.2, 29.5, 30, 30.5, 36.5, 40, 700, 1e3, 1e300)
unit_mu <- c(1e-300, 1e-20, eps, 1e-10, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-10, 1 - eps)
pos_mu <- c(1e-300, 1e-20, 1e-10, 0.5, 1, 2, 1e10, 1e20, 1e300)
real_mu <- c(-1e300, -2, -0.5, 0.5, 1, 2, 1e10, 1e300)
link_mu <- list(logit = unit_mu, probit = unit_mu, cauchit = unit_mu, cloglog = unit_mu,
                identity = real_mu, log = pos_mu, sqrt = pos_mu, "1/mu^2" = pos_mu,
                inverse = real_mu)

links <- list()
for (nm in names(link_mu)) {
  lk <- make.link(nm)
  mu <- link_mu[[nm]]
  links[[nm]] <- list(
    eta = num(eta_grid),
    linkinv = num(suppressWarnings(lk$linkinv(eta_grid))),
    mu_eta = num(suppressWarnings(lk$mu.eta(eta_grid))),
    mu = num(mu),
    linkfun = num(suppressWarnings(lk$linkfun(mu)))
  )
}

## ---- families ----------------------------------------------------------------
## Each case: y, mu, wt; R's dev.resids, aic(y, n, mu, wt, sum(dev.resids)) and mustart.
mustart_of <- function(fam, y, weights) {
  nobs <- length(y)
  etastart <- NULL; start <- NULL; mustart <- NULL
  family <- fam
  eval(fam$initialize)
  mustart
}
## n: R's binomial trials vector (glm's "n" for a two-column response; then wt = prior weights * n)
case <- function(fam, y, mu, wt, n = rep(1, length(y))) {
  dr <- fam$dev.resids(y, mu, wt)
  list(
    family = fam$family, link = fam$link,
    y = num(y), mu = num(mu), wt = num(wt), n = num(n),
    dev_resids = num(dr),
    aic = num(fam$aic(y, n, mu, wt, sum(dr)))[[1]],
    mustart = num(mustart_of(fam, y, wt))
  )
}

cases <- list(
  gaussian = case(gaussian(), c(-1.5, 0, 0.2, 3.7, 10), c(-1, 0.1, 0.3, 3, 9.5), c(1, 2, 0.5, 1, 3)),
  gaussian_zero_weight = case(gaussian(), c(1, 2, 3), c(1.1, 1.9, 3.2), c(0, 1, 2)),
  binomial_bernoulli = case(binomial(), c(0, 1, 1, 0, 1), c(0.2, 0.7, 1 - 1e-10, 1e-12, 0.5), rep(1, 5)),
  binomial_trials = case(binomial(), c(0, 0.25, 0.5, 1, 3 / 7, 0), c(0.1, 0.3, 0.45, 0.9, 0.4, 0.5),
                         c(4, 4, 10, 3, 7, 0)),
  binomial_trials_weights = case(binomial(), c(0, 0.25, 0.5, 1, 3 / 7, 0), c(0.1, 0.3, 0.45, 0.9, 0.4, 0.5),
                                 c(4, 4, 10, 3, 7, 0) * c(2, 1, 3, 1, 2, 1), n = c(4, 4, 10, 3, 7, 0)),
  poisson = case(poisson(), c(0, 1, 3, 10, 0, 250), c(0.5, 1.2, 2.5, 12, 1e-8, 240), c(1, 1, 2, 1, 3, 1)),
  gamma = case(Gamma(), c(0.1, 1, 2.5, 7, 40), c(0.2, 1.1, 2, 9, 35), c(1, 2, 1, 1, 0.5)),
  inverse_gaussian = case(inverse.gaussian(), c(0.1, 1, 2.5, 7, 40), c(0.2, 1.1, 2, 9, 35),
                          c(1, 2, 1, 1, 0.5)),
  negative_binomial = case(negative.binomial(2.5), c(0, 1, 3, 10, 0, 60), c(0.5, 1.2, 2.5, 12, 3, 50),
                           c(1, 1, 2, 1, 3, 1))
)

out <- list(
  description = paste("R make.link() and family-object reference values;",
                      "regenerate with: Rscript tests/r/links_families_reference.R"),
  versions = session_versions(c("stats", "MASS")),
  eps = sprintf("%.17g", eps),
  links = links,
  families = cases
)
write_json_file(out, file.path(here, "links_families_reference.json"))
