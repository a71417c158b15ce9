## More reference fits from lme4::glmer / lmer(REML = FALSE) and glmmTMB on real data sets
## (complements glmer_reference.R: other data, other formula features, awkward inputs).
##
## Run from anywhere:   Rscript tests/r/glmer_more_reference.R
## Writes:  tests/r/glmer_more_reference.json  (all fits, versions, timings, warnings, errors)
##          tests/r/data/more_<name>.csv         (the columns the models use, exact doubles)
##
## Each stored fit has
##   formula        the formula given to the Python engine (reference.glmer)
##   r_formula      the formula given to R (differs e.g. for cbind/trials or renamed columns)
##   factors        columns to turn into pandas categoricals, with R's level order
##                  (levels that are absent from the data are kept: "unused levels" cases)
##   character_columns  columns the Python side must keep as plain strings (R converts
##                  character grouping columns to factors itself)
##   weights, offset    column names passed as weights= / offset= (offset(...) inside a
##                  formula is part of the formula instead)
##   lme4, glmmTMB  R's results; "error" instead when the fit failed
##   rename         columns the Python side renames before fitting, because reference.glmer's
##                  formula parser cannot read the R name (dotted names such as total.fruits or
##                  Solar.R, the Python keyword "yield"); the CSVs keep R's names

suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
  library(MASS)
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
ONLY <- Sys.getenv("ONLY", "")  # comma-separated model ids, for development

## ---- data sets ---------------------------------------------------------------
bact <- MASS::bacteria[, c("y", "ap", "hilo", "week", "ID", "trt")]
bact$y01 <- as.integer(bact$y == "y")

ep <- MASS::epil[, c("y", "trt", "base", "age", "V4", "subject", "period", "lbase", "lage")]
ep$subject <- factor(ep$subject)
ep$period <- factor(ep$period)
ep$obs <- factor(seq_len(nrow(ep)))

cb <- lme4::cbpp
cb$prop <- cb$incidence / cb$size
cb$obs <- factor(seq_len(nrow(cb)))
## unused levels: herds 13-15 dropped from the rows but kept as levels; period gets an
## extra level "5" that no row has
cbu <- cb[as.integer(cb$herd) <= 12, c("herd", "incidence", "size", "period")]
cbuh <- cbu
cbu$period <- factor(as.character(cbu$period), levels = c("1", "2", "3", "4", "5"))

ara <- lme4::Arabidopsis
ara$rack <- factor(ara$rack)
ara$nutrient <- factor(ara$nutrient)
ara$gen <- factor(ara$gen)

va <- VerbAgg[, c("Anger", "Gender", "item", "id", "btype", "situ", "r2")]
va$r2y <- as.integer(va$r2 == "Y")
va$r2 <- NULL
va$male <- as.integer(va$Gender == "M")

data(Contraception, package = "mlmRev")
co <- Contraception[, c("district", "use", "livch", "age", "urban")]
co$use_y <- as.integer(co$use == "Y")
co$use <- NULL

data(Mmmec, package = "mlmRev")
mm <- Mmmec[, c("nation", "region", "deaths", "expected", "uvb")]
mm$logexp <- log(mm$expected)

data(ScotsSec, package = "mlmRev")
ss <- ScotsSec[, c("attain", "verbal", "sex", "social", "primary", "second")]

data(Exam, package = "mlmRev")
ex <- Exam[, c("school", "normexam", "standLRT", "sex", "schgend")]
ex$school <- as.character(ex$school)  # character grouping column (R sorts "1","10","11",...)

data(guImmun, package = "mlmRev")
gu <- guImmun[, c("immun", "kid2p", "mom25p", "ord", "ethn", "momEd", "husEd", "momWork",
                  "rural", "pcInd81", "mom", "comm")]
gu$immun_y <- as.integer(gu$immun == "Y")
gu$immun <- NULL

data(Owls, package = "glmmTMB")
ow <- Owls[, c("Nest", "FoodTreatment", "SexParent", "ArrivalTime", "SiblingNegotiation",
               "BroodSize", "logBroodSize")]

orth <- as.data.frame(nlme::Orthodont)
orth$Subject <- factor(as.character(orth$Subject), levels = levels(orth$Subject))  # ordered -> plain
oats <- as.data.frame(nlme::Oats)
oats$Block <- factor(as.character(oats$Block), levels = levels(oats$Block))

dy2 <- lme4::Dyestuff2
pastes <- lme4::Pastes[, c("strength", "batch", "cask")]
pastes$batch <- as.character(pastes$batch)
pastes$cask <- as.character(pastes$cask)

aq <- airquality
aq$Month <- factor(aq$Month)

datasets <- list(
  bacteria = list(d = bact, source = "MASS::bacteria; y01 = (y == 'y')"),
  epil = list(d = ep, source = "MASS::epil; subject, period as factors; obs = row number as factor"),
  cbpp = list(d = cb, source = "lme4::cbpp; prop = incidence / size; obs = row number as factor"),
  cbpp_unused = list(d = cbu, source = "lme4::cbpp rows with herd 1-12, all 15 herd levels kept, period with an unused level '5'"),
  cbpp_unused_herds = list(d = cbuh, source = "lme4::cbpp rows with herd 1-12, all 15 herd levels kept"),
  arabidopsis = list(d = ara, source = "lme4::Arabidopsis; rack, nutrient, gen as factors"),
  verbagg = list(d = va, source = "lme4::VerbAgg; r2y = (r2 == 'Y'), male = (Gender == 'M')"),
  contraception = list(d = co, source = "mlmRev::Contraception; use_y = (use == 'Y')"),
  mmmec = list(d = mm, source = "mlmRev::Mmmec; logexp = log(expected)"),
  scotssec = list(d = ss, source = "mlmRev::ScotsSec"),
  exam = list(d = ex, source = "mlmRev::Exam; school as a character column"),
  guimmun = list(d = gu, source = "mlmRev::guImmun; immun_y = (immun == 'Y')"),
  owls = list(d = ow, source = "glmmTMB::Owls"),
  orthodont = list(d = orth, source = "nlme::Orthodont (Subject as a plain factor)"),
  oats = list(d = oats, source = "nlme::Oats (Block as a plain factor)"),
  dyestuff2 = list(d = dy2, source = "lme4::Dyestuff2"),
  pastes = list(d = pastes, source = "lme4::Pastes; batch, cask as character columns"),
  airquality = list(d = aq, source = "datasets::airquality; Month as factor; NAs kept")
)
for (nm in names(datasets)) {
  write_exact_csv(datasets[[nm]]$d, file.path(data_dir, paste0("more_", nm, ".csv")))
}

## ---- fitting -------------------------------------------------------------------
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
## fit, and for fast fits repeat twice more and keep the smallest elapsed time
timed <- function(fun) {
  cap <- tryCatch(capture(fun()), error = function(e) list(error = conditionMessage(e)))
  if (!is.null(cap$error) || cap$elapsed > 3) return(cap)
  for (i in 1:2) {
    again <- system.time(suppressWarnings(suppressMessages(fun())))
    cap$elapsed <- min(cap$elapsed, unname(again["elapsed"]))
  }
  cap
}

r_family <- function(family, link) {
  switch(family,
         binomial = binomial(link = link), poisson = poisson(link = link),
         Gamma = Gamma(link = link), gaussian = gaussian(link = link))
}

lme4_summary <- function(fit, cap) {
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
    varcorr = varcorr_list(VarCorr(fit)),
    sigma = sigma(fit),
    loglik = as.numeric(ll),
    loglik_df = attr(ll, "df"),
    aic = AIC(fit),
    bic = BIC(fit),
    deviance = deviance(fit),
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
    df_resid = df.residual(fit),
    convergence = fit$fit$convergence,
    pdHess = fit$sdr$pdHess,
    warnings = as.list(cap$warnings),
    messages = as.list(cap$messages),
    elapsed_seconds = cap$elapsed
  )
}

## formula: Python formula; r_formula: R's (default: the same)
fit_spec <- function(id, data, formula, family, link, nagq = 1L, r_formula = formula,
                     weights = NULL, offset = NULL, character_columns = NULL, rename = NULL,
                     saturated = NULL, slow = FALSE, tmb = TRUE, note = NULL) {
  list(id = id, data = data, formula = formula, r_formula = r_formula, family = family,
       link = link, nagq = nagq, weights = weights, offset = offset,
       character_columns = character_columns, rename = rename, saturated = saturated, slow = slow, tmb = tmb,
       note = note)
}
specs <- list(
  ## MASS::bacteria, binary logit with a logical covariate; nAGQ 5/9/25
  fit_spec("bacteria", "bacteria", "y01 ~ trt + I(week > 2) + (1 | ID)", "binomial", "logit",
           nagq = c(1L, 0L, 5L, 9L, 25L), saturated = list(y = "y01"),
           note = "MASS::bacteria as in glmmPQL's example; R names the logical column I(week > 2)TRUE"),
  fit_spec("bacteria_cloglog", "bacteria", "y01 ~ trt + week + (1 | ID)", "binomial", "cloglog",
           nagq = c(1L, 9L), saturated = list(y = "y01")),
  fit_spec("bacteria_probit", "bacteria", "y01 ~ trt + week + (1 | ID)", "binomial", "probit"),
  ## MASS::epil, Poisson; observation-level effect; a boundary fit (period variance 0)
  fit_spec("epil", "epil", "y ~ lbase * trt + lage + V4 + (1 | subject)", "poisson", "log",
           nagq = c(1L, 0L, 9L), saturated = list(y = "y")),
  fit_spec("epil_obs", "epil", "y ~ lbase * trt + lage + V4 + (1 | subject) + (1 | obs)",
           "poisson", "log", note = "observation-level random effect (1 | obs)"),
  fit_spec("epil_boundary", "epil", "y ~ lbase * trt + lage + V4 + (1 | subject) + (1 | period)",
           "poisson", "log", note = "boundary fit: the period variance is estimated as 0 (lme4: singular)"),
  ## lme4::cbpp, cbind() in the formula and the proportion + weights form
  fit_spec("cbpp_cbind", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
           "binomial", "logit", nagq = c(1L, 0L, 9L),
           saturated = list(y = "incidence", n = "size"), note = "cbind() response in the formula"),
  fit_spec("cbpp_obs", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)",
           "binomial", "logit", note = "observation-level effect for overdispersion (lme4's cbpp example)"),
  fit_spec("cbpp_prop_weights", "cbpp", "prop ~ period + (1 | herd)", "binomial", "logit",
           weights = "size", note = "proportion response with weights = size (R's binomial proportions form)"),
  fit_spec("cbpp_cloglog", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
           "binomial", "cloglog"),
  fit_spec("cbpp_unused_levels", "cbpp_unused", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
           "binomial", "logit",
           note = paste("herd has 15 levels but rows only for 12; period has a level '5' without rows:",
                        "lme4 drops the all-zero period5 column (rank deficient) and the unused herds")),
  fit_spec("cbpp_unused_herds", "cbpp_unused_herds",
           "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", "logit",
           note = "only the grouping factor herd has unused levels (15 levels, rows for 12)"),
  ## lme4::Arabidopsis, three scalar terms (nested), Poisson
  fit_spec("arabidopsis", "arabidopsis",
           "total_fruits ~ nutrient * amd + rack + status + (1 | reg) + (1 | popu) + (1 | gen)",
           "poisson", "log", slow = TRUE, rename = list(total.fruits = "total_fruits"), nagq = c(1L, 0L),
           r_formula = "total.fruits ~ nutrient * amd + rack + status + (1 | reg) + (1 | popu) + (1 | gen)",
           note = "three nested scalar terms (reg, popu, gen)"),
  ## VerbAgg: random slope on item
  fit_spec("verbagg_slope", "verbagg", "r2y ~ Anger + Gender + btype + situ + (1 | id) + (1 + male | item)",
           "binomial", "logit", slow = TRUE, note = "crossed id and item, item with a random Gender slope"),
  ## Contraception probit / cloglog
  fit_spec("contraception_probit", "contraception", "use_y ~ age + urban + livch + (1 | district)",
           "binomial", "probit", slow = TRUE),
  fit_spec("contraception_agq", "contraception", "use_y ~ age + I(age**2) + urban + livch + (1 | district)",
           "binomial", "logit", nagq = c(1L, 9L), saturated = list(y = "use_y"), slow = TRUE,
           r_formula = "use_y ~ age + I(age^2) + urban + livch + (1 | district)",
           note = "R's I(age^2) is I(age**2) for the Python parser (^ is xor there)"),
  fit_spec("contraception_poly", "contraception", "use_y ~ poly(age, 2) + urban + livch + (1 | district)",
           "binomial", "logit", slow = TRUE, note = "orthogonal polynomial poly(age, 2)"),
  ## mlmRev::Mmmec, Poisson with offset(log(expected)) in the formula, nested nation/region
  fit_spec("mmmec", "mmmec", "deaths ~ uvb + offset(log(expected)) + (1 | nation / region)",
           "poisson", "log", note = "offset(log(expected)) inside the formula; (1 | nation/region)"),
  fit_spec("mmmec_offset_arg", "mmmec", "deaths ~ uvb + (1 | region)", "poisson", "log",
           offset = "logexp", note = "offset = log(expected) passed as an argument"),
  ## mlmRev Gaussian (lmer ML)
  fit_spec("scotssec", "scotssec", "attain ~ verbal + sex + social + (1 | primary) + (1 | second)",
           "gaussian", "identity", slow = TRUE, note = "lmer(REML = FALSE), crossed primary and secondary schools"),
  fit_spec("exam", "exam", "normexam ~ standLRT + sex + schgend + (standLRT | school)", "gaussian",
           "identity", character_columns = list("school"), slow = TRUE,
           note = "lmer(REML = FALSE), correlated random slope; school is a character column"),
  fit_spec("exam_uncorr", "exam", "normexam ~ standLRT + (standLRT || school)", "gaussian", "identity",
           character_columns = list("school"), note = "lmer(REML = FALSE), double-bar (uncorrelated) term"),
  ## mlmRev::guImmun, binary, children in mothers in communities
  fit_spec("guimmun", "guimmun",
           "immun_y ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork + rural + pcInd81 + (1 | mom) + (1 | comm)",
           "binomial", "logit", slow = TRUE,
           note = "1595 mothers (most with one child) nested in 161 communities"),
  ## glmmTMB::Owls, offset() in the formula
  fit_spec("owls_offset", "owls",
           "SiblingNegotiation ~ FoodTreatment + ArrivalTime + offset(logBroodSize) + (1 | Nest)",
           "poisson", "log", nagq = c(1L, 25L), saturated = list(y = "SiblingNegotiation")),
  ## Gamma log link (compare with glmmTMB)
  fit_spec("orthodont_gamma", "orthodont", "distance ~ age + Sex + (1 | Subject)", "Gamma", "log"),
  fit_spec("oats_gamma", "oats", "yield_ ~ nitro + Variety + (1 | Block / Variety)", "Gamma", "log",
           r_formula = "yield ~ nitro + Variety + (1 | Block / Variety)", rename = list(yield = "yield_"),
           note = "Gamma log link, (1 | Block/Variety)"),
  fit_spec("oats_ml", "oats", "yield_ ~ nitro + Variety + (1 | Block / Variety)", "gaussian", "identity",
           r_formula = "yield ~ nitro + Variety + (1 | Block / Variety)", rename = list(yield = "yield_"),
           note = "lmer(REML = FALSE)"),
  ## boundary (Gaussian)
  fit_spec("dyestuff2_ml", "dyestuff2", "Yield ~ 1 + (1 | Batch)", "gaussian", "identity",
           note = "lmer(REML = FALSE): the Batch variance is estimated as 0"),
  ## character grouping columns, nested
  fit_spec("pastes_ml", "pastes", "strength ~ 1 + (1 | batch / cask)", "gaussian", "identity",
           character_columns = list("batch", "cask"),
           note = "lmer(REML = FALSE); batch and cask are character columns"),
  ## NAs: Ozone (used) and Solar.R (unused) have NAs; then Solar.R used too
  fit_spec("airquality", "airquality", "Ozone ~ Temp + Wind + (1 | Month)", "poisson", "log",
           note = "NAs in the response Ozone and in the unused Solar.R: 116 of 153 rows used"),
  fit_spec("airquality_solar", "airquality", "Ozone ~ Temp + Wind + Solar_R + (1 | Month)", "poisson", "log",
           r_formula = "Ozone ~ Temp + Wind + Solar.R + (1 | Month)", rename = list(Solar.R = "Solar_R"),
           note = "NAs in the response and in the used covariate Solar.R: 111 rows used")
)

saturated_loglik <- function(spec, d, fam) {
  s <- spec$saturated
  if (is.null(s)) return(NA_real_)
  y <- d[[s$y]]
  if (fam == "binomial") {
    if (is.null(s$n)) return(0)
    n <- d[[s$n]]; return(sum(dbinom(y, n, y / n, log = TRUE)))
  }
  sum(dpois(y, y, log = TRUE))
}

fits <- list()
only <- if (nzchar(ONLY)) strsplit(ONLY, ",")[[1]] else NULL
for (spec in specs) {
  if (!is.null(only) && !(spec$id %in% only)) next
  d <- datasets[[spec$data]]$d
  rf <- as.formula(spec$r_formula)
  wts <- if (is.null(spec$weights)) NULL else d[[spec$weights]]
  off <- if (is.null(spec$offset)) NULL else d[[spec$offset]]
  used <- intersect(names(d), c(all.vars(rf), spec$weights, spec$offset))
  for (k in spec$nagq) {
    message("fitting ", spec$id, " nAGQ=", k)
    if (spec$family == "gaussian") {
      cap <- timed(function() lmer(rf, data = d, REML = FALSE, weights = wts, offset = off))
    } else {
      cap <- timed(function() glmer(rf, data = d, family = r_family(spec$family, spec$link),
                                    nAGQ = k, weights = wts, offset = off))
    }
    entry <- list(
      id = if (k == 1L) paste0(spec$id, "-laplace") else sprintf("%s-agq%d", spec$id, k),
      model = spec$id,
      data = paste0("data/more_", spec$data, ".csv"),
      data_source = datasets[[spec$data]]$source,
      factors = levels_of(d[, setdiff(used, unlist(spec$character_columns)), drop = FALSE]),
      character_columns = if (is.null(spec$character_columns)) list() else spec$character_columns,
      rename = if (is.null(spec$rename)) setNames(list(), character(0)) else spec$rename,
      formula = spec$formula,
      r_formula = spec$r_formula,
      r_call = if (spec$family == "gaussian") "lmer(REML = FALSE)" else "glmer",
      family = spec$family,
      link = spec$link,
      weights = spec$weights,
      offset = spec$offset,
      nAGQ = k,
      slow = spec$slow,
      note = spec$note
    )
    entry$lme4 <- if (!is.null(cap$error)) list(error = cap$error) else lme4_summary(cap$value, cap)
    if (k > 1L && is.null(cap$error)) {
      entry$lme4$loglik_is_relative_to_saturated <- TRUE
      entry$lme4$saturated_loglik <- saturated_loglik(spec, d, spec$family)
      entry$lme4$loglik_full <- entry$lme4$loglik + entry$lme4$saturated_loglik
    }
    if (k == 1L && have_tmb && spec$tmb) {
      message("  glmmTMB ", spec$id)
      tcap <- timed(function() glmmTMB::glmmTMB(rf, data = d, family = r_family(spec$family, spec$link),
                                                weights = wts, offset = off))
      entry$glmmTMB <- if (!is.null(tcap$error)) list(error = tcap$error) else tmb_summary(tcap$value, tcap)
    }
    fits[[length(fits) + 1]] <- entry
  }
}

out <- list(
  description = paste("more lme4::glmer / lmer(REML = FALSE) and glmmTMB reference fits on package data;",
                      "regenerate with: Rscript tests/r/glmer_more_reference.R"),
  versions = session_versions(c("lme4", "Matrix", "mlmRev", "MASS", "nlme", if (have_tmb) c("glmmTMB", "TMB"))),
  timing_note = paste("elapsed_seconds: one fit (the smallest of three runs when under 3 s),",
                      "R started once; 2 shared cores"),
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  fits = fits
)
outfile <- file.path(here, if (is.null(only)) "glmer_more_reference.json" else "glmer_more_reference.partial.json")
write_json_file(out, outfile)
cat(sprintf("wrote %d fits to %s\n", length(fits), outfile))
