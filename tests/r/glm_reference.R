## Reference values from R's glm() for every family x link that R accepts.
##
## Run from anywhere:   Rscript tests/r/glm_reference.R
## Writes:  tests/r/glm_reference.json   (all fits, R/package versions inside)
##          tests/r/data/glm_<family>.csv (the simulated data sets, made here
##                                         with set.seed so they are reproducible)
## Covariates and responses are rounded to a few decimals before fitting, so
## the CSV files hold exactly the numbers R used.

suppressPackageStartupMessages({
  library(MASS)     # negative.binomial(theta)
  library(statmod)  # rinvgauss
})
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
data_dir <- file.path(here, "data")
dir.create(data_dir, showWarnings = FALSE)

NB_THETA <- 2.5   # the known negative-binomial k (MASS's theta)

## ---- data -----------------------------------------------------------------
## Common covariates: x1, x2 ~ U(0, 1), a 3-level factor f (levels a, b, c),
## integer prior weights w in 1..3 and an offset column off.
covariates <- function(n) {
  data.frame(
    x1 = round(runif(n), 4),
    x2 = round(runif(n), 4),
    f = factor(sample(c("a", "b", "c"), n, replace = TRUE), levels = c("a", "b", "c")),
    w = sample(1:3, n, replace = TRUE),
    off = round(runif(n, -0.2, 0.2), 4)
  )
}
feff <- function(f, b, c) ifelse(f == "b", b, ifelse(f == "c", c, 0))

make_data <- function() {
  set.seed(20261125)
  d <- list()

  g <- covariates(60)
  mu <- exp(1 + 0.5 * g$x1 - 0.3 * g$x2 + feff(g$f, 0.2, -0.1))
  g$y <- round(mu + rnorm(60, sd = 0.25), 4)
  d$gaussian <- g

  b <- covariates(200)
  p <- plogis(-1.5 + 1.2 * b$x1 - 0.6 * b$x2 + feff(b$f, 0.3, -0.3))
  b$y <- rbinom(200, 1, p)
  d$binomial01 <- b

  bt <- covariates(50)
  bt$n <- sample(5:20, 50, replace = TRUE)
  p <- plogis(-1.2 + 1.0 * bt$x1 - 0.5 * bt$x2 + feff(bt$f, 0.4, -0.2))
  bt$y <- rbinom(50, bt$n, p)
  d$binomial_trials <- bt

  po <- covariates(80)
  mu <- 6 + 4 * po$x1 + 2 * po$x2 + feff(po$f, 1.5, -1)
  po$y <- rpois(80, mu)
  d$poisson <- po

  ga <- covariates(60)
  mu <- 1 / (0.3 + 0.4 * ga$x1 + 0.2 * ga$x2 + feff(ga$f, 0.1, -0.05))
  ga$y <- round(rgamma(60, shape = 4, scale = mu / 4), 5)
  d$gamma <- ga

  ig <- covariates(60)
  mu <- 1 + 1.2 * ig$x1 + 0.8 * ig$x2 + feff(ig$f, 0.3, -0.2)
  ig$y <- round(rinvgauss(60, mean = mu, shape = 8), 5)
  d$inverse_gaussian <- ig

  nb <- covariates(80)
  mu <- 2 + 4 * nb$x1 + 3 * nb$x2 + feff(nb$f, 1, -0.5)
  nb$y <- rnbinom(80, size = NB_THETA, mu = mu)
  d$negative_binomial <- nb
  d
}

datasets <- make_data()
for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(data_dir, paste0("glm_", nm, ".csv")), row.names = FALSE)
}
## Read the CSV back so the fits use exactly what the Python tests will read.
datasets <- lapply(names(datasets), function(nm) {
  x <- read.csv(file.path(data_dir, paste0("glm_", nm, ".csv")))
  x$f <- factor(x$f, levels = c("a", "b", "c"))
  x
})
names(datasets) <- c("gaussian", "binomial01", "binomial_trials", "poisson",
                     "gamma", "inverse_gaussian", "negative_binomial")

## ---- fits -----------------------------------------------------------------
## family name as the Python side spells it, R family constructor, links
specs <- list(
  list(family = "gaussian", data = "gaussian", links = c("identity", "log", "inverse"),
       fam = function(l) gaussian(link = l)),
  list(family = "binomial", data = "binomial01",
       links = c("logit", "probit", "cauchit", "log", "cloglog"),
       fam = function(l) binomial(link = l)),
  list(family = "binomial", data = "binomial_trials", trials = "n",
       links = c("logit", "probit", "cauchit", "log", "cloglog"),
       fam = function(l) binomial(link = l)),
  list(family = "poisson", data = "poisson", links = c("log", "identity", "sqrt"),
       fam = function(l) poisson(link = l)),
  list(family = "Gamma", data = "gamma", links = c("inverse", "identity", "log"),
       fam = function(l) Gamma(link = l)),
  list(family = "inverse.gaussian", data = "inverse_gaussian",
       links = c("1/mu^2", "inverse", "identity", "log"),
       fam = function(l) inverse.gaussian(link = l)),
  list(family = "negative_binomial", data = "negative_binomial", k = NB_THETA,
       links = c("log", "sqrt", "identity"),
       fam = function(l) negative.binomial(theta = NB_THETA, link = l))
)

## links with an unbounded eta range, where adding an offset is always safe
offset_ok <- c("log", "logit", "probit", "cloglog", "cauchit")

fit_one <- function(spec, link, variant) {
  d <- datasets[[spec$data]]
  rhs <- "x1 + x2 + f"
  trials <- spec$trials
  r_formula <- if (is.null(trials)) paste("y ~", rhs) else
    paste0("cbind(y, ", trials, " - y) ~ ", rhs)
  use_w <- variant %in% c("weights", "weights_offset")
  use_off <- variant %in% c("offset", "weights_offset")
  warns <- character(0)
  run <- function(start, control) withCallingHandlers(
    glm(as.formula(r_formula), data = d, family = spec$fam(link),
        weights = if (use_w) d$w else NULL,
        offset = if (use_off) d$off else NULL, start = start, control = control),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
    })
  values <- function(fit) {
    s <- summary(fit)
    list(coef = as.list(unname(coef(fit))),
         se = as.list(unname(s$coefficients[, "Std. Error"])),
         deviance = fit$deviance, null_deviance = fit$null.deviance, aic = fit$aic,
         dispersion = s$dispersion, iter = fit$iter, converged = fit$converged)
  }
  ## (1) R's defaults, glm.control(epsilon = 1e-8, maxit = 25): what an R user sees.
  default <- run(NULL, glm.control())
  default_warns <- warns
  warns <- character(0)
  ## (2) the same algorithm with a tight tolerance.
  tight_control <- glm.control(epsilon = 1e-12, maxit = 100)
  tight <- run(NULL, tight_control)
  ## (3) the optimum itself: glm() computes the SEs from the working weights of its last
  ## IRLS step, i.e. at the coefficients one step before the reported ones, and a deviance
  ## tolerance still leaves the coefficients ~1e-6..1e-5 (relative) from the optimum.
  ## Restarting twice from the converged coefficients gives the MLE to ~1e-12 and the SEs
  ## evaluated at it.
  opt <- run(coef(run(coef(tight), tight_control)), tight_control)
  s <- summary(default)
  ll <- logLik(default)
  list(
    id = paste(spec$data, gsub("[^A-Za-z0-9]", "", link), variant, sep = "-"),
    data = paste0("data/glm_", spec$data, ".csv"),
    family = spec$family,
    r_family = default$family$family,
    link = link,
    k = if (is.null(spec$k)) NULL else spec$k,
    formula = paste("y ~", rhs),
    r_formula = r_formula,
    trials = if (is.null(trials)) NULL else trials,
    weights = if (use_w) "w" else NULL,
    offset = if (use_off) "off" else NULL,
    coef_names = as.list(names(coef(default))),
    coef = as.list(unname(coef(default))),
    se = as.list(unname(s$coefficients[, "Std. Error"])),
    deviance = default$deviance,
    null_deviance = default$null.deviance,
    aic = default$aic,
    loglik = as.numeric(ll),
    loglik_df = attr(ll, "df"),
    df_residual = default$df.residual,
    df_null = default$df.null,
    dispersion = s$dispersion,
    iter = default$iter,
    converged = default$converged,
    boundary = default$boundary,
    nobs = nobs(default),
    warnings = as.list(default_warns),
    tight = values(tight),
    optimum = values(opt),
    tight_warnings = as.list(warns)
  )
}

fits <- list()
for (spec in specs) {
  for (link in spec$links) {
    variants <- c("plain", "weights")
    if (spec$data == "binomial01") variants <- "plain"   # 0/1 data: no prior weights
    ## binomial(log): mu = exp(eta) must stay below 1; an offset pushes R's
    ## first IRLS step out of range, so no offset variant there.
    if (link %in% offset_ok && !(spec$family == "binomial" && link == "log")) variants <- c(variants, if (spec$data == "binomial01") "offset" else "weights_offset")
    for (v in variants) {
      res <- tryCatch(fit_one(spec, link, v), error = function(e)
        stop(sprintf("fit %s/%s/%s failed: %s", spec$data, link, v, conditionMessage(e))))
      if (!res$tight$converged || length(res$tight_warnings) > 0) {
        stop(sprintf("fit %s did not converge cleanly: %s", res$id,
                     paste(unlist(res$warnings), collapse = "; ")))
      }
      fits[[length(fits) + 1]] <- res
    }
  }
}

out <- list(
  description = paste("R glm() reference fits for every family x link R accepts;",
                      "regenerate with: Rscript tests/r/glm_reference.R"),
  versions = session_versions(c("stats", "MASS", "statmod")),
  control = list(
    note = paste("top-level values: glm() with R's default glm.control(epsilon = 1e-8, maxit = 25);",
                 "'tight': the same with epsilon = 1e-12, maxit = 100;",
                 "'optimum': restarted twice from the tight coefficients (the exact MLE, SEs at it)"),
    default = list(epsilon = 1e-8, maxit = 25L),
    tight = list(epsilon = 1e-12, maxit = 100L)),
  negative_binomial_k = NB_THETA,
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  fits = fits
)
write_json_file(out, file.path(here, "glm_reference.json"))
cat(sprintf("wrote %d fits to %s\n", length(fits), file.path(here, "glm_reference.json")))
