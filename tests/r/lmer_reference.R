## Reference values from lme4::lmer (REML and ML) on data sets that ship with lme4.
##
## Run from anywhere:   Rscript tests/r/lmer_reference.R
## Writes:  tests/r/lmer_reference.json   (all fits, R/package versions, the optimizer settings)
##          tests/r/data/lmer_<name>.csv   (the data, only the model columns, exact doubles)
##
## glmmTMB (when installed) fits each model too (REML and ML; "glmmTMB" entries).
## Each model is fitted four times: REML and ML, each with lme4's default control ("default":
## what an R user sees; nloptwrap/BOBYQA stops at ftol_abs = 1e-8, so θ is accurate to about
## 1e-5 only) and with a tight optimizer ("tight": nloptwrap with ftol/xtol 1e-15/1e-12), whose
## optimum agrees with the exact one to ~1e-8. Python compares with "tight" closely and with
## "default" loosely.  For every fit the objective is also evaluated at a fixed θ ("at_theta",
## via devFunOnly = TRUE), an optimizer-free check of the profiled deviance / REML criterion.
##
## Derived columns (written to the CSVs, so R and Python use the same numbers):
##   sleepstudy: w = 1 + (Days %% 3) / 2 (prior weights), off = 0.5 * Days + (as.integer(Subject) %% 4)
##   cake: temperature as an unordered factor (lme4 ships it ordered, which R codes with
##   polynomial contrasts; unordered gives treatment contrasts, as the Python design does).

suppressPackageStartupMessages(library(lme4))
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


ss <- sleepstudy
ss$w <- 1 + (ss$Days %% 3) / 2
ss$off <- 0.5 * ss$Days + (as.integer(ss$Subject) %% 4)
ck <- cake[, c("angle", "recipe", "temperature", "replicate")]
ck$temperature <- factor(as.character(ck$temperature), levels = levels(cake$temperature))
ck$angle <- as.numeric(ck$angle)
datasets <- list(
  sleepstudy = ss,
  dyestuff = Dyestuff,
  dyestuff2 = Dyestuff2,
  penicillin = Penicillin,
  pastes = Pastes[, c("strength", "batch", "cask")],
  cake = ck
)
for (nm in names(datasets)) {
  write_exact_csv(datasets[[nm]], file.path(data_dir, paste0("lmer_", nm, ".csv")))
}

spec <- function(id, data, formula, weights = NULL, offset = NULL, at_theta, note = NULL) {
  list(id = id, data = data, formula = formula, weights = weights, offset = offset,
       at_theta = at_theta, note = note)
}
specs <- list(
  spec("sleep_int", "sleepstudy", "Reaction ~ Days + (1 | Subject)", at_theta = 0.7),
  spec("sleep_slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", at_theta = c(0.9, 0.1, 0.3)),
  spec("sleep_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)", at_theta = c(0.9, 0.3),
       note = "(Days || Subject) = (1 | Subject) + (0 + Days | Subject)"),
  spec("sleep_weights", "sleepstudy", "Reaction ~ Days + (Days | Subject)", weights = "w",
       at_theta = c(0.9, 0.1, 0.3)),
  spec("sleep_offset", "sleepstudy", "Reaction ~ Days + (1 | Subject)", offset = "off", at_theta = 0.7),
  spec("sleep_wt_off", "sleepstudy", "Reaction ~ Days + (1 | Subject)", weights = "w", offset = "off",
       at_theta = 0.7),
  spec("dyestuff", "dyestuff", "Yield ~ 1 + (1 | Batch)", at_theta = 0.5),
  spec("dyestuff2", "dyestuff2", "Yield ~ 1 + (1 | Batch)", at_theta = 0.5,
       note = "singular fit: theta = 0"),
  spec("penicillin", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", at_theta = c(1, 2),
       note = "crossed"),
  spec("pastes", "pastes", "strength ~ 1 + (1 | batch/cask)", at_theta = c(1, 0.5),
       note = "nested: (1 | cask:batch) + (1 | batch)"),
  spec("cake", "cake", "angle ~ recipe * temperature + (1 | recipe:replicate)", at_theta = 1)
)

opt_tight <- list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12, xtol_rel = 1e-12, maxeval = 1e5)

varcorr_list <- function(vc) {
  lapply(vc, function(m) {
    sd <- attr(m, "stddev")
    cr <- attr(m, "correlation")
    list(terms = as.list(names(sd)), sd = as.list(unname(sd)),
         corr = if (length(sd) > 1) lapply(seq_len(nrow(cr)), function(i) as.list(unname(cr[i, ]))) else NULL)
  })
}
ranef_list <- function(fit) {
  re <- ranef(fit)
  lapply(re, function(df) list(levels = as.list(rownames(df)), columns = as.list(names(df)),
                               values = lapply(seq_len(nrow(df)), function(i) as.list(unname(unlist(df[i,]))))))
}

summarise <- function(fit, elapsed) {
  fe <- fixef(fit)
  ll <- logLik(fit)
  th <- getME(fit, "theta")
  reml <- isREML(fit)
  list(
    fixef_names = as.list(names(fe)), fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(as.matrix(vcov(fit)))))),
    theta_names = as.list(names(th)), theta = as.list(unname(th)),
    sigma = sigma(fit),
    varcorr = varcorr_list(VarCorr(fit)),
    loglik = as.numeric(ll), loglik_df = attr(ll, "df"),
    aic = AIC(fit), bic = BIC(fit),
    reml_crit = if (reml) REMLcrit(fit) else NULL,
    deviance = if (reml) NULL else deviance(fit),
    ml_deviance_at_fit = deviance(fit, REML = FALSE),
    df_resid = df.residual(fit), nobs = nobs(fit), ngroups = as.list(ngrps(fit)),
    singular = isSingular(fit),
    ranef = ranef_list(fit),
    fitted_head = as.list(unname(head(fitted(fit), 10))),
    resid_head = as.list(unname(head(residuals(fit), 10))),
    warnings = as.list(fit@optinfo$conv$lme4$messages),
    elapsed_seconds = elapsed
  )
}

tmb_summary <- function(fit) {
  fe <- glmmTMB::fixef(fit)$cond
  ll <- logLik(fit)
  list(
    fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(vcov(fit)$cond)))),
    sigma = sigma(fit),
    varcorr = varcorr_list(glmmTMB::VarCorr(fit)$cond),
    loglik = as.numeric(ll),
    aic = AIC(fit),
    convergence = fit$fit$convergence,
    pdHess = fit$sdr$pdHess
  )
}

fits <- list()
for (s in specs) {
  d <- datasets[[s$data]]
  f <- as.formula(s$formula)
  w <- if (is.null(s$weights)) NULL else d[[s$weights]]
  o <- if (is.null(s$offset)) NULL else d[[s$offset]]
  for (reml in c(TRUE, FALSE)) {
    message("fitting ", s$id, " REML=", reml)
    ## lmer evaluates weights/offset in the data frame's environment: put them in columns
    d$.w <- if (is.null(w)) rep(1, nrow(d)) else w
    d$.o <- if (is.null(o)) rep(0, nrow(d)) else o
    t0 <- proc.time()[["elapsed"]]
    fd <- lmer(f, data = d, REML = reml, weights = .w, offset = .o)
    el <- proc.time()[["elapsed"]] - t0
    ft <- lmer(f, data = d, REML = reml, weights = .w, offset = .o,
               control = lmerControl(optimizer = "nloptwrap", optCtrl = opt_tight))
    dev_fun <- lmer(f, data = d, REML = reml, weights = .w, offset = .o, devFunOnly = TRUE)
    tmb <- if (!have_tmb) NULL else tryCatch(
      tmb_summary(suppressWarnings(glmmTMB::glmmTMB(f, data = d, REML = reml, weights = .w, offset = .o))),
      error = function(e) list(error = conditionMessage(e)))
    fits[[length(fits) + 1]] <- list(
      id = paste0(s$id, if (reml) "-reml" else "-ml"),
      model = s$id,
      data = paste0("data/lmer_", s$data, ".csv"),
      factors = levels_of(d[, intersect(names(d), all.vars(f)), drop = FALSE]),
      formula = s$formula, weights = s$weights, offset = s$offset, REML = reml, note = s$note,
      at_theta = list(theta = as.list(s$at_theta), objective = dev_fun(s$at_theta)),
      default = summarise(fd, el),
      tight = summarise(ft, NA),
      glmmTMB = tmb
    )
  }
}

out <- list(
  description = "lme4::lmer reference fits (REML and ML; default and tight optimizer); regenerate with: Rscript tests/r/lmer_reference.R",
  versions = session_versions(c("lme4", "Matrix", "nloptr", if (have_tmb) c("glmmTMB", "TMB"))),
  tight_optimizer = list(optimizer = "nloptwrap", optCtrl = opt_tight),
  default_optimizer = as.list(lmerControl()$optimizer),
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  fits = fits
)
write_json_file(out, file.path(here, "lmer_reference.json"))
cat(sprintf("wrote %d fits to %s\n", length(fits), file.path(here, "lmer_reference.json")))
