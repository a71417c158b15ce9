## Reference values for the negative binomial GLMM with an estimated shape k (MASS's theta):
## lme4::glmer.nb and glmmTMB(family = nbinom2) on package data and one simulated data set.
##
## Run from anywhere:   Rscript tests/r/glmer_nb_reference.R
## Writes:  tests/r/glmer_nb_reference.json   (all fits, R/package versions)
##          tests/r/data/nb_<name>.csv         (exactly the numbers R fitted, model columns only)
##
## Naming: lme4 calls the negative binomial shape "theta" (getME(fit, "glmer.nb.theta")), and
## also calls the random-effects parameters "theta".  Here the shape is stored as "nb_k" and
## the random-effects parameters as "theta" (lme4's relative Cholesky factor; for the
## negative binomial sigma = 1, so theta equals the random-effect standard deviation for a
## scalar term).  glmmTMB's shape is sigma(fit); its standard error is reported for log(k)
## (glmmTMB's "betad" parameter), from the joint Hessian of the Laplace likelihood.
##
## Derived columns (so R and Python fit exactly the same numbers): grouseticks$sHEIGHT =
## scale(HEIGHT); Owls$logBroodSize = log(BroodSize) (offset).  Factor levels in R's order are
## stored per fit in "factors".

suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
  library(glmmTMB)
})
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
source(file.path(here, "data_out.R"))
data_dir <- file.path(here, "data")
dir.create(data_dir, showWarnings = FALSE)


## ---- data ---------------------------------------------------------------
data(Salamanders, package = "glmmTMB")
data(Owls, package = "glmmTMB")
data(epil, package = "MASS")
sal <- Salamanders[, c("site", "mined", "spp", "count")]
sal$site <- factor(as.character(sal$site), levels = levels(sal$site))  # ordered -> plain factor
owls <- Owls[, c("Nest", "FoodTreatment", "SexParent", "SiblingNegotiation", "BroodSize")]
owls$logBroodSize <- log(owls$BroodSize)
gt <- grouseticks[, c("TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")]
gt$sHEIGHT <- as.numeric(scale(gt$HEIGHT))
ep <- epil[, c("y", "lbase", "trt", "lage", "V4", "subject")]
ep$subject <- factor(ep$subject)

## simulated: known truth beta = (0.5, 0.8, -0.4), random-intercept SD 0.6, shape k = 1.8
set.seed(20261126)
n_g <- 40L; n_per <- 15L
sim <- data.frame(g = factor(rep(sprintf("g%02d", seq_len(n_g)), each = n_per)),
                  x = round(rnorm(n_g * n_per), 6),
                  grp = factor(rep(c("a", "b"), length.out = n_g * n_per)))
b <- rnorm(n_g, sd = 0.6)
eta <- 0.5 + 0.8 * sim$x - 0.4 * (sim$grp == "b") + b[as.integer(sim$g)]
sim$y <- rnbinom(nrow(sim), size = 1.8, mu = exp(eta))
sim_truth <- list(beta = list(0.5, 0.8, -0.4), re_sd = 0.6, nb_k = 1.8)

datasets <- list(
  salamanders = list(d = sal, source = "glmmTMB::Salamanders"),
  owls = list(d = owls, source = "glmmTMB::Owls (NCalls = SiblingNegotiation)"),
  grouseticks = list(d = gt, source = "lme4::grouseticks"),
  epil = list(d = ep, source = "MASS::epil"),
  sim = list(d = sim, source = "simulated in this script (set.seed(20261126))", truth = sim_truth)
)
for (nm in names(datasets)) {
  write_exact_csv(datasets[[nm]]$d, file.path(data_dir, paste0("nb_", nm, ".csv")))
}

## ---- fitting ------------------------------------------------------------
capture <- function(expr) {
  warns <- character(0); msgs <- character(0)
  t <- system.time(val <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") }))
  list(value = val, warnings = warns, messages = msgs, elapsed = unname(t["elapsed"]))
}
sds_of <- function(vc) lapply(vc, function(m) as.list(unname(attr(m, "stddev"))))

lme4_nb <- function(fit, cap) {
  fe <- fixef(fit)
  ll <- logLik(fit)
  th <- getME(fit, "theta")
  conv <- fit@optinfo$conv$lme4
  list(
    fixef_names = as.list(names(fe)),
    fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(as.matrix(vcov(fit)))))),
    theta_names = as.list(names(th)),
    theta = as.list(unname(th)),
    re_sd = sds_of(VarCorr(fit)),
    nb_k = unname(getME(fit, "glmer.nb.theta")),
    loglik = as.numeric(ll),
    loglik_df = attr(ll, "df"),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    df_resid = df.residual(fit),
    ngroups = as.list(ngrps(fit)),
    converged_without_warnings = length(conv$messages) == 0 && length(cap$warnings) == 0,
    warnings = as.list(cap$warnings),
    elapsed_seconds = cap$elapsed
  )
}

tmb_nb <- function(fit, cap) {
  fe <- glmmTMB::fixef(fit)$cond
  ll <- logLik(fit)
  est <- summary(fit$sdr, "fixed")
  betad <- est[rownames(est) == "betad", , drop = FALSE]
  list(
    fixef_names = as.list(names(fe)),
    fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(vcov(fit)$cond)))),
    re_sd = sds_of(glmmTMB::VarCorr(fit)$cond),
    nb_k = sigma(fit),
    log_nb_k = unname(betad[1, "Estimate"]),
    log_nb_k_se = unname(betad[1, "Std. Error"]),
    loglik = as.numeric(ll),
    loglik_df = attr(ll, "df"),
    aic = AIC(fit),
    bic = BIC(fit),
    convergence = fit$fit$convergence,
    pdHess = fit$sdr$pdHess,
    warnings = as.list(cap$warnings),
    elapsed_seconds = cap$elapsed
  )
}

spec <- function(id, data, formula, offset = NULL, note = NULL) {
  list(id = id, data = data, formula = formula, offset = offset, note = note)
}
specs <- list(
  spec("salamanders", "salamanders", "count ~ spp + mined + (1 | site)"),
  spec("owls", "owls", "SiblingNegotiation ~ FoodTreatment * SexParent + (1 | Nest)",
       offset = "logBroodSize", note = "offset log(BroodSize), passed as offset = column"),
  spec("grouseticks", "grouseticks", "TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | LOCATION)"),
  spec("epil", "epil", "y ~ lbase * trt + lage + V4 + (1 | subject)"),
  spec("sim", "sim", "y ~ x + grp + (1 | g)", note = "simulated, truth stored in data_truth")
)

fits <- list()
for (s in specs) {
  d <- datasets[[s$data]]$d
  f <- as.formula(s$formula)
  off <- if (is.null(s$offset)) NULL else d[[s$offset]]
  message("glmer.nb ", s$id)
  cap <- if (is.null(off)) capture(glmer.nb(f, data = d)) else capture(glmer.nb(f, data = d, offset = off))
  message("glmmTMB ", s$id)
  tcap <- capture(glmmTMB(f, data = d, family = nbinom2, offset = off))
  fits[[length(fits) + 1]] <- list(
    id = s$id,
    data = paste0("data/nb_", s$data, ".csv"),
    data_source = datasets[[s$data]]$source,
    data_truth = datasets[[s$data]]$truth,
    factors = levels_of(d[, intersect(names(d), all.vars(f)), drop = FALSE]),
    formula = s$formula,
    offset = s$offset,
    note = s$note,
    lme4 = lme4_nb(cap$value, cap),
    glmmTMB = tmb_nb(tcap$value, tcap)
  )
}

out <- list(
  description = paste("lme4::glmer.nb and glmmTMB(family = nbinom2) reference fits (shape k estimated);",
                      "regenerate with: Rscript tests/r/glmer_nb_reference.R"),
  versions = session_versions(c("lme4", "glmmTMB", "TMB", "MASS", "Matrix")),
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  fits = fits
)
write_json_file(out, file.path(here, "glmer_nb_reference.json"))
cat(sprintf("wrote %d fits to %s\n", length(fits), file.path(here, "glmer_nb_reference.json")))
