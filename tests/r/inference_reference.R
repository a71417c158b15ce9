## Reference values for reference.inference / reference.profile: lme4's anova, confint
## (profile and Wald, oldNames = FALSE) and pbkrtest's PBmodcomp on data sets that ship with lme4.
##
## Run from anywhere:   Rscript tests/r/inference_reference.R        (about 1-2 min)
## Writes:  tests/r/inference_reference.json
##          tests/r/data/inference_<name>.csv   (the model columns, exact doubles)
##
## Derived columns (written to the CSVs so that R and Python fit the same numbers):
##   cbpp: obs = 1:56 (an observation-level random effect, a boundary-test example)
##   grouseticks: sHEIGHT = scale(HEIGHT)
## The beaches (RIKZ) data (/work/shared/data/rikz.csv, or RIKZ_CSV) are read but never written:
## only R's results for them are stored (entry "rikz", absent when the file is missing).
## PBmodcomp draws NSIM (default 1000) parametric-bootstrap samples with a fixed seed; its
## p-value is (1 + #{LRT* >= LRT}) / (1 + nsim), the same rule as reference.bootstrap_lrt.

suppressPackageStartupMessages({
  library(lme4)
  library(pbkrtest)
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
nsim <- as.integer(Sys.getenv("NSIM", "1000"))

cb <- cbpp
cb$obs <- factor(seq_len(nrow(cb)))
gt <- grouseticks[, c("TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")]
gt$sHEIGHT <- as.numeric(scale(gt$HEIGHT))
ss <- sleepstudy
datasets <- list(cbpp = cb, grouseticks = gt, sleepstudy = ss)
for (nm in names(datasets)) write_exact_csv(datasets[[nm]], file.path(data_dir, paste0("inference_", nm, ".csv")))

anova_rows <- function(a) {
  lapply(seq_len(nrow(a)), function(i) {
    list(model = rownames(a)[i], npar = a$npar[i], AIC = a$AIC[i], BIC = a$BIC[i], logLik = a$logLik[i],
         deviance = a$deviance[i], Chisq = a$Chisq[i], Df = a$Df[i], p = a[["Pr(>Chisq)"]][i])
  })
}
ci_list <- function(ci) {
  list(names = as.list(rownames(ci)), columns = as.list(colnames(ci)),
       lower = as.list(unname(ci[, 1])), upper = as.list(unname(ci[, 2])))
}
pb_list <- function(pb) {
  pbt <- pb$value$test
  list(nsim = nsim, lrt = pbt["LRT", "stat"], df = pbt["LRT", "df"], p_chisq = pbt["LRT", "p.value"],
       p_boot = pbt["PBtest", "p.value"], n_used = length(na.omit(pb$value$ref)),
       ref_mean = mean(pb$value$ref, na.rm = TRUE), seconds = pb$seconds)
}
timed <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  v <- expr
  list(value = v, seconds = proc.time()[["elapsed"]] - t0)
}

out <- list()

## ---- cbpp: glmer (binomial, cbind response), glm, observation-level effect
f_big <- cbind(incidence, size - incidence) ~ period + (1 | herd)
gm1 <- glmer(f_big, data = cb, family = binomial)
gm_null <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), data = cb, family = binomial)
gm_obs <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs), data = cb, family = binomial)
g0 <- glm(cbind(incidence, size - incidence) ~ period, data = cb, family = binomial)
pr <- timed(profile(gm1, signames = FALSE))
set.seed(1)
pb <- timed(PBmodcomp(gm1, gm_null, nsim = nsim, seed = 20261204))
out$cbpp <- list(
  data = "data/inference_cbpp.csv", levels = levels_of(cb),
  formula = "incidence ~ period + (1 | herd)", null_formula = "incidence ~ 1 + (1 | herd)",
  obs_formula = "incidence ~ period + (1 | herd) + (1 | obs)", glm_formula = "incidence ~ period",
  trials = "size", family = "binomial",
  anova_glm = anova_rows(anova(gm1, g0)),
  anova_null = anova_rows(anova(gm1, gm_null)),
  anova_obs = anova_rows(anova(gm1, gm_obs)),
  profile_95 = ci_list(confint(pr$value, level = 0.95)),
  profile_90 = ci_list(confint(pr$value, level = 0.90)),
  profile_seconds = pr$seconds,
  wald_95 = ci_list(confint(gm1, method = "Wald", oldNames = FALSE)),
  glm_profile_95 = ci_list(suppressMessages(confint(g0))),
  glm_wald_95 = ci_list(confint.default(g0)),
  pbmodcomp = pb_list(pb)
)

## ---- sleepstudy: lmer (REML fits; anova refits with ML)
fm1 <- lmer(Reaction ~ Days + (Days | Subject), ss)
fm_uncorr <- lmer(Reaction ~ Days + (Days || Subject), ss)
fm_int <- lmer(Reaction ~ Days + (1 | Subject), ss)
fm_ml <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = FALSE)
lm0 <- lm(Reaction ~ Days, ss)
pr <- timed(profile(fm1, signames = FALSE))
pb <- timed(PBmodcomp(fm1, fm_uncorr, nsim = nsim, seed = 20261204))
out$sleepstudy <- list(
  data = "data/inference_sleepstudy.csv", levels = levels_of(ss),
  formula = "Reaction ~ Days + (Days | Subject)", uncorr_formula = "Reaction ~ Days + (Days || Subject)",
  int_formula = "Reaction ~ Days + (1 | Subject)", lm_formula = "Reaction ~ Days",
  anova_uncorr = anova_rows(anova(fm1, fm_uncorr)),
  anova_three = anova_rows(anova(fm1, fm_uncorr, fm_int)),
  anova_lm = anova_rows(anova(fm_int, lm0)),
  profile_95 = ci_list(confint(pr$value, level = 0.95)),
  profile_90 = ci_list(confint(pr$value, level = 0.90)),
  profile_seconds = pr$seconds,
  profile_ml_95 = ci_list(confint(fm_ml, method = "profile", oldNames = FALSE, quiet = TRUE)),
  wald_95 = ci_list(confint(fm1, method = "Wald", oldNames = FALSE)),
  pbmodcomp = pb_list(pb)
)

## ---- grouseticks: Poisson, two crossed grouping factors
gt1 <- glmer(TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | LOCATION), data = gt, family = poisson)
gt0 <- glmer(TICKS ~ YEAR + sHEIGHT + (1 | BROOD), data = gt, family = poisson)
pr <- timed(profile(gt1, signames = FALSE))
out$grouseticks <- list(
  data = "data/inference_grouseticks.csv", levels = levels_of(gt),
  formula = "TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | LOCATION)",
  small_formula = "TICKS ~ YEAR + sHEIGHT + (1 | BROOD)", family = "poisson",
  anova = anova_rows(anova(gt1, gt0)),
  profile_95 = ci_list(confint(pr$value, level = 0.95)),
  profile_seconds = pr$seconds,
  wald_95 = ci_list(confint(gt1, method = "Wald", oldNames = FALSE))
)

## ---- beaches (RIKZ): Poisson random intercept and correlated random slope
RIKZ <- Sys.getenv("RIKZ_CSV", "/work/shared/data/rikz.csv")
if (file.exists(RIKZ)) {
  rikz <- read.csv(RIKZ)
  rikz$Beach <- factor(rikz$Beach)
  ri <- glmer(Richness ~ NAP + (1 | Beach), data = rikz, family = poisson)
  rs <- glmer(Richness ~ NAP + (1 + NAP | Beach), data = rikz, family = poisson)
  r0 <- glm(Richness ~ NAP, data = rikz, family = poisson)
  slope_ci <- tryCatch(ci_list(suppressWarnings(confint(rs, method = "profile", oldNames = FALSE, quiet = TRUE))),
                       error = function(e) list(error = conditionMessage(e)))
  out$rikz <- list(
    formula = "Richness ~ NAP + (1 | Beach)", slope_formula = "Richness ~ NAP + (1 + NAP | Beach)",
    glm_formula = "Richness ~ NAP", family = "poisson", factors = list("Beach"),
    anova = anova_rows(anova(ri, r0, rs)),
    profile_95 = ci_list(confint(ri, method = "profile", oldNames = FALSE, quiet = TRUE)),
    slope_profile_95 = slope_ci
  )
}

out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     pbkrtest = as.character(packageVersion("pbkrtest")),
                     MASS = as.character(packageVersion("MASS")))
writeLines(to_json(out), file.path(here, "inference_reference.json"))
cat("wrote", file.path(here, "inference_reference.json"), "\n")
