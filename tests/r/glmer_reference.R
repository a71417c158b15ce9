## Reference values from lme4::glmer / lmer (and glmmTMB where it is installed)
## on real data sets that ship with R packages, plus the beaches (RIKZ) data.
##
## Run from anywhere:   Rscript tests/r/glmer_reference.R
## Writes:  tests/r/glmer_reference.json  (all fits, R/package versions, lme4 control defaults)
##          tests/r/data/<name>.csv        (the package data sets used, only the columns the
##                                          models need plus derived numeric columns)
## The beaches data (/work/shared/data/rikz.csv) are read but never written: only R's
## results for them are stored.  Set RIKZ_CSV to use another path.
##
## Data columns derived here (so R and Python fit exactly the same numbers):
##   grouseticks$sHEIGHT = scale(HEIGHT); VerbAgg$r2y = (r2 == "Y");
##   Contraception$use_y = (use == "Y"), Contraception$urban_y = (urban == "Y").  Factor levels (in R's order) are stored
##   per fit in "factors"; the Python tests apply them before fitting.

suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
})
have_tmb <- suppressWarnings(requireNamespace("glmmTMB", quietly = TRUE))
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
source(file.path(here, "data_out.R"))
data_dir <- file.path(here, "data")
dir.create(data_dir, showWarnings = FALSE)
RIKZ <- Sys.getenv("RIKZ_CSV", "/work/shared/data/rikz.csv")

## ---- data (exported exactly by data_out.R's write_exact_csv) ----------------
data(Salamanders, package = "glmmTMB")
data(Owls, package = "glmmTMB")
data(Contraception, package = "mlmRev")

gt <- grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")]
gt$sHEIGHT <- as.numeric(scale(gt$HEIGHT))
va <- VerbAgg[, c("Anger", "Gender", "item", "id", "btype", "situ", "mode", "r2")]
va$r2y <- as.integer(va$r2 == "Y")
va$r2 <- NULL
co <- Contraception[, c("district", "use", "livch", "age", "urban")]
co$use_y <- as.integer(co$use == "Y")
co$urban_y <- as.integer(co$urban == "Y")  # numeric 0/1, for a scalar (0 + urban_y | district) term
co$use <- NULL
sal <- Salamanders[, c("site", "mined", "cover", "spp", "count")]
sal$site <- factor(as.character(sal$site), levels = levels(sal$site))  # ordered -> plain factor
owls <- Owls[, c("Nest", "FoodTreatment", "SexParent", "ArrivalTime", "SiblingNegotiation",
                 "BroodSize", "logBroodSize")]

datasets <- list(
  cbpp = list(d = cbpp, source = "lme4::cbpp"),
  grouseticks = list(d = gt, source = "lme4::grouseticks"),
  verbagg = list(d = va, source = "lme4::VerbAgg"),
  contraception = list(d = co, source = "mlmRev::Contraception"),
  salamanders = list(d = sal, source = "glmmTMB::Salamanders"),
  owls = list(d = owls, source = "glmmTMB::Owls"),
  sleepstudy = list(d = sleepstudy, source = "lme4::sleepstudy")
)
for (nm in names(datasets)) {
  write_exact_csv(datasets[[nm]]$d, file.path(data_dir, paste0(nm, ".csv")))
}
if (file.exists(RIKZ)) {
  rikz <- read.csv(RIKZ)
  rikz$Beach <- factor(rikz$Beach)
  datasets$rikz <- list(d = rikz, source = "shared beaches data (not stored in the repository)")
}

## ---- fitting ------------------------------------------------------------
varcorr_list <- function(vc) {
  lapply(vc, function(m) {
    sd <- attr(m, "stddev")
    cr <- attr(m, "correlation")
    list(terms = as.list(names(sd)), sd = as.list(unname(sd)),
         corr = if (length(sd) > 1) lapply(seq_len(nrow(cr)), function(i) as.list(unname(cr[i, ]))) else NULL)
  })
}

capture <- function(expr) {
  warns <- character(0); msgs <- character(0)
  t <- system.time(val <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") }))
  list(value = val, warnings = warns, messages = msgs, elapsed = unname(t["elapsed"]))
}

r_family <- function(family, link) {
  switch(family,
         binomial = binomial(link = link), poisson = poisson(link = link),
         Gamma = Gamma(link = link), gaussian = gaussian(link = link))
}

lme4_summary <- function(fit, cap) {
  s <- summary(fit)
  fe <- fixef(fit)
  ll <- logLik(fit)
  th <- getME(fit, "theta")
  conv <- fit@optinfo$conv$lme4
  res <- list(
    fixef_names = as.list(names(fe)),
    fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(as.matrix(vcov(fit)))))),
    theta_names = as.list(names(th)),
    theta = as.list(unname(th)),
    varcorr = varcorr_list(VarCorr(fit)),
    sigma = sigma(fit),
    loglik = as.numeric(ll),
    loglik_df = attr(ll, "df"),
    aic = AIC(fit),
    bic = BIC(fit),
    deviance = deviance(fit),
    minus2loglik = -2 * as.numeric(ll),
    df_resid = df.residual(fit),
    nobs = nobs(fit),
    ngroups = as.list(ngrps(fit)),
    singular = isSingular(fit),
    optimizer = as.list(fit@optinfo$optimizer),
    converged_without_warnings = length(conv$messages) == 0 && length(cap$warnings) == 0,
    convergence_messages = as.list(c(conv$messages, fit@optinfo$warnings)),
    warnings = as.list(cap$warnings),
    messages = as.list(cap$messages),
    elapsed_seconds = cap$elapsed
  )
  res
}

tmb_summary <- function(fit, cap) {
  fe <- glmmTMB::fixef(fit)$cond
  ll <- logLik(fit)
  list(
    fixef_names = as.list(names(fe)),
    fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(vcov(fit)$cond)))),
    varcorr = varcorr_list(glmmTMB::VarCorr(fit)$cond),
    sigma = sigma(fit),
    loglik = as.numeric(ll),
    aic = AIC(fit),
    bic = BIC(fit),
    df_resid = df.residual(fit),
    convergence = fit$fit$convergence,
    pdHess = fit$sdr$pdHess,
    warnings = as.list(cap$warnings),
    messages = as.list(cap$messages),
    elapsed_seconds = cap$elapsed
  )
}

## id, data, formula (Python side; R uses r_formula when the response is cbind),
## family, link, nAGQ values, trials/offset columns, slow flag
fit_spec <- function(id, data, formula, family, link, nagq = 1L, trials = NULL, offset = NULL,
                     slow = FALSE, tmb = TRUE, note = NULL) {
  list(id = id, data = data, formula = formula, family = family, link = link, nagq = nagq,
       trials = trials, offset = offset, slow = slow, tmb = tmb, note = note)
}
specs <- list(
  fit_spec("cbpp", "cbpp", "incidence ~ period + (1 | herd)", "binomial", "logit",
           nagq = c(1L, 5L, 10L, 25L), trials = "size"),
  fit_spec("cbpp_probit", "cbpp", "incidence ~ period + (1 | herd)", "binomial", "probit",
           nagq = c(1L, 10L), trials = "size"),
  fit_spec("grouseticks", "grouseticks", "TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | LOCATION)",
           "poisson", "log"),
  fit_spec("grouseticks_obs", "grouseticks",
           "TICKS ~ YEAR + sHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION)", "poisson", "log",
           note = "observation-level random effect (1 | INDEX), nested in BROOD within LOCATION"),
  fit_spec("verbagg_id", "verbagg", "r2y ~ Anger + Gender + btype + situ + (1 | id)",
           "binomial", "logit", nagq = c(1L, 5L), slow = TRUE),
  fit_spec("verbagg_crossed", "verbagg",
           "r2y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial", "logit",
           slow = TRUE),
  fit_spec("contraception", "contraception", "use_y ~ age + urban + livch + (1 | district)",
           "binomial", "logit", nagq = c(1L, 5L, 10L, 25L)),
  fit_spec("contraception_slope", "contraception",
           "use_y ~ age + urban + livch + (1 + urban | district)", "binomial", "logit",
           note = "correlated random intercept and slope (1 + x | g)"),
  fit_spec("contraception_uncorr", "contraception",
           "use_y ~ age + urban + livch + (1 | district) + (0 + urban_y | district)", "binomial", "logit",
           note = paste("uncorrelated random intercept and urban effect, scalar (0 + x | g) term",
                        "(x numeric 0/1: a factor would give an unidentifiable 2x2 block)")),
  fit_spec("salamanders", "salamanders", "count ~ mined + (1 | site)", "poisson", "log",
           nagq = c(1L, 5L, 10L, 25L)),
  fit_spec("salamanders_spp", "salamanders", "count ~ spp + mined + (1 | site)", "poisson", "log"),
  fit_spec("salamanders_slope", "salamanders", "count ~ mined + cover + (1 + cover | site)",
           "poisson", "log", note = "Poisson random slope on a continuous covariate"),
  fit_spec("salamanders_zeroint", "salamanders", "count ~ mined + cover + (0 + cover | site)",
           "poisson", "log", note = "random slope only (0 + x | g), scalar term: nAGQ allowed",
           nagq = c(1L, 10L)),
  fit_spec("owls", "owls", "SiblingNegotiation ~ FoodTreatment * SexParent + (1 | Nest)",
           "poisson", "log", nagq = c(1L, 5L, 10L, 25L), offset = "logBroodSize"),
  fit_spec("sleepstudy_ml", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "gaussian",
           "identity", note = "lmer(REML = FALSE)"),
  fit_spec("sleepstudy_slope_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian",
           "identity", note = "lmer(REML = FALSE), correlated random slope"),
  fit_spec("sleepstudy_uncorr_ml", "sleepstudy",
           "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "gaussian", "identity",
           note = "lmer(REML = FALSE), uncorrelated random slope"),
  fit_spec("sleepstudy_gamma_log", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "Gamma", "log",
           note = "Gamma GLMM; lme4's Gamma Laplace uses an estimated scale and is known to differ from glmmTMB"),
  fit_spec("sleepstudy_gamma_identity", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "Gamma",
           "identity"),
  fit_spec("rikz", "rikz", "Richness ~ NAP + (1 | Beach)", "poisson", "log",
           nagq = c(1L, 5L, 10L, 25L)),
  fit_spec("rikz_slope", "rikz", "Richness ~ NAP + (1 + NAP | Beach)", "poisson", "log")
)

## lme4 reports nAGQ > 1 log-likelihoods relative to the saturated model (it sums
## deviance residuals instead of log densities), so they are not on the Laplace
## scale.  The full log-likelihood is lme4's value plus the saturated one.
saturated_loglik <- function(spec, d) {
  y <- d[[sub("\\s*~.*$", "", spec$formula)]]
  switch(spec$family,
         binomial = if (is.null(spec$trials)) 0 else {
           n <- d[[spec$trials]]; sum(dbinom(y, n, y / n, log = TRUE))
         },
         poisson = sum(dpois(y, y, log = TRUE)),
         NA_real_)
}

r_formula_of <- function(spec) {
  if (is.null(spec$trials)) return(spec$formula)
  lhs <- sub("\\s*~.*$", "", spec$formula)
  rhs <- sub("^[^~]*~\\s*", "", spec$formula)
  sprintf("cbind(%s, %s - %s) ~ %s", lhs, spec$trials, lhs, rhs)
}

fits <- list()
for (spec in specs) {
  if (is.null(datasets[[spec$data]])) {
    message("skipping ", spec$id, ": data set ", spec$data, " not available")
    next
  }
  d <- datasets[[spec$data]]$d
  rf <- as.formula(r_formula_of(spec))
  off <- if (is.null(spec$offset)) NULL else d[[spec$offset]]
  tmb_done <- NULL
  for (k in spec$nagq) {
    message("fitting ", spec$id, " nAGQ=", k)
    if (spec$family == "gaussian") {
      cap <- capture(lmer(rf, data = d, REML = FALSE, offset = off))
    } else {
      cap <- capture(glmer(rf, data = d, family = r_family(spec$family, spec$link),
                           nAGQ = k, offset = off))
    }
    entry <- list(
      id = if (k == 1L) paste0(spec$id, "-laplace") else sprintf("%s-agq%d", spec$id, k),
      model = spec$id,
      data = if (spec$data == "rikz") NULL else paste0("data/", spec$data, ".csv"),
      data_source = datasets[[spec$data]]$source,
      factors = levels_of(d[, intersect(names(d), all.vars(rf)), drop = FALSE]),
      formula = spec$formula,
      r_formula = r_formula_of(spec),
      r_call = if (spec$family == "gaussian") "lmer(REML = FALSE)" else "glmer",
      family = spec$family,
      link = spec$link,
      trials = spec$trials,
      offset = spec$offset,
      nAGQ = k,
      slow = spec$slow,
      note = spec$note,
      lme4 = lme4_summary(cap$value, cap)
    )
    if (k > 1L) {
      entry$lme4$loglik_is_relative_to_saturated <- TRUE
      entry$lme4$saturated_loglik <- saturated_loglik(spec, d)
      entry$lme4$loglik_full <- entry$lme4$loglik + entry$lme4$saturated_loglik
    }
    if (k == 1L && have_tmb && spec$tmb) {
      message("  glmmTMB ", spec$id)
      tcap <- tryCatch(
        capture(glmmTMB::glmmTMB(rf, data = d, family = r_family(spec$family, spec$link),
                                 offset = off)),
        error = function(e) list(error = conditionMessage(e)))
      entry$glmmTMB <- if (!is.null(tcap$error)) list(error = tcap$error) else tmb_summary(tcap$value, tcap)
    }
    fits[[length(fits) + 1]] <- entry
  }
}

gc_ <- glmerControl()
lc_ <- lmerControl()
out <- list(
  description = paste("lme4::glmer / lmer(REML = FALSE) and glmmTMB reference fits on package data;",
                      "regenerate with: Rscript tests/r/glmer_reference.R"),
  versions = session_versions(c("lme4", "Matrix", "mlmRev", if (have_tmb) c("glmmTMB", "TMB"))),
  lme4_defaults = list(
    glmer_optimizer = as.list(gc_$optimizer),
    lmer_optimizer = as.list(lc_$optimizer),
    tolPwrss = gc_$tolPwrss,
    boundary_tol = gc_$boundary.tol,
    compDev = gc_$compDev,
    nAGQ0initStep = gc_$nAGQ0initStep,
    calc_derivs = gc_$calc.derivs,
    check_conv_grad_tol = gc_$checkConv$check.conv.grad$tol,
    check_conv_singular_tol = gc_$checkConv$check.conv.singular$tol,
    note = "glmer/lmer called with default control; nAGQ as stored per fit"
  ),
  rikz_included = !is.null(datasets$rikz),
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  fits = fits
)
write_json_file(out, file.path(here, "glmer_reference.json"))
cat(sprintf("wrote %d fits to %s\n", length(fits), file.path(here, "glmer_reference.json")))
