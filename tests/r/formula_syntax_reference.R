## Reference fits for the R formula spellings that reference/design.py and
## reference/glmm_formula.py accept (tests/test_formula_syntax_vs_r.py).
##
## Run from anywhere:   Rscript tests/r/formula_syntax_reference.R
## Writes:  tests/r/formula_syntax_reference.json (fits, R/package versions inside)
##          tests/r/data/formula_syntax.csv       (the simulated data, made here with
##                                                  set.seed; numbers rounded before fitting)
##
## Covered: factor levels without rows (declared but unused, or emptied by NA rows),
## poly(), scale(), I(x^2), log/sqrt/offset(log()), factor() / as.factor(), column names with
## dots, R keywords that are Python keywords (yield, class), backticked names, factor and
## string responses for binomial (first level = failure), a logical predictor.

suppressPackageStartupMessages(library(lme4))
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
data_dir <- file.path(here, "data")
dir.create(data_dir, showWarnings = FALSE)

set.seed(20261126)
n <- 160
d <- data.frame(
  age = round(runif(n, 18, 50), 1),
  x = round(rnorm(n), 3),
  week = sample(0:3, n, replace = TRUE),
  f = sample(c("a", "b", "c"), n, replace = TRUE),
  g = sample(paste0("g", 1:8), n, replace = TRUE),
  e = round(runif(n, 0.5, 3), 3),
  flag = sample(c(TRUE, FALSE), n, replace = TRUE),
  check.names = FALSE
)
eta <- 0.3 + 0.02 * (d$age - 30) - 0.002 * (d$age - 30)^2 + 0.3 * d$x +
  ifelse(d$f == "b", 0.3, ifelse(d$f == "c", -0.2, 0)) + 0.1 * d$week
d$cnt <- rpois(n, d$e * exp(eta))
d[["total.fruits"]] <- rpois(n, exp(1 + 0.2 * d$x))
d[["Solar.R"]] <- round(runif(n, 0, 3), 3)
d[["yield"]] <- rpois(n, exp(1.2 + 0.1 * d[["Solar.R"]]))
d[["class"]] <- round(rnorm(n), 3)
d[["my col"]] <- round(rnorm(n), 3)
d[["plant.id"]] <- paste0("p", sample(1:10, n, replace = TRUE))
p <- plogis(-0.3 + 0.8 * d$x)
d$resp <- ifelse(runif(n) < p, "y", "n")
d$lev <- ifelse(runif(n) < plogis(0.2 - 0.7 * d$x), "yes", "no")
d$x_na <- ifelse(d$f == "c", NA, d$x)  # every row of level c has a missing x_na
write.csv(d, file.path(data_dir, "formula_syntax.csv"), row.names = FALSE)

## the model frame as R sees it: declared factor levels, one without rows in each factor
fr <- read.csv(file.path(data_dir, "formula_syntax.csv"), check.names = FALSE,
               stringsAsFactors = FALSE)
factors <- list(
  f = c("a", "b", "c", "d"),                 # d: declared, no rows
  g = c(paste0("g", 1:8), "g9"),             # g9: declared, no rows
  lev = c("yes", "no")                       # not sorted: "yes" is the first level (failure)
)
for (v in names(factors)) fr[[v]] <- factor(fr[[v]], levels = factors[[v]])
fr$resp <- factor(fr$resp)                   # sorted levels n < y (string column in Python)
fr$flag <- as.logical(fr$flag)

glm_fits <- list(
  list(id = "unused_level", formula = "cnt ~ f + x", family = "poisson"),
  list(id = "poly", formula = "cnt ~ poly(age, 2) + x", family = "poisson"),
  list(id = "scale", formula = "cnt ~ scale(age) + x", family = "poisson"),
  list(id = "power_log_sqrt_offset",
       formula = "cnt ~ I(age^2) + log(age) + sqrt(e) + offset(log(e))", family = "poisson"),
  list(id = "factor_call", formula = "cnt ~ factor(week) + x", family = "poisson"),
  list(id = "as_factor_interaction", formula = "cnt ~ as.factor(week) * x", family = "poisson"),
  list(id = "dotted_names", formula = "total.fruits ~ Solar.R + x", family = "poisson"),
  list(id = "keywords", formula = "yield ~ class + Solar.R", family = "poisson"),
  list(id = "backticks", formula = "`total.fruits` ~ `my col` + I(`my col`^2)", family = "poisson"),
  list(id = "string_response", formula = "resp ~ x", family = "binomial"),
  list(id = "factor_response", formula = "lev ~ x", family = "binomial"),
  list(id = "logical_predictor", formula = "cnt ~ flag + x", family = "poisson"),
  list(id = "logical_operators",
       formula = "cnt ~ I(week > 1 & x > 0) + I(!flag | x < -1) + I(age/10) + I(-x^2)",
       family = "poisson")
)
glmer_fits <- list(
  list(id = "glmer_unused_levels", formula = "cnt ~ f + x + (1 | g)", family = "poisson"),
  list(id = "glmer_na_empties_level", formula = "cnt ~ f + x_na + (1 | g)", family = "poisson"),
  list(id = "glmer_poly", formula = "cnt ~ poly(age, 2) + offset(log(e)) + (1 | g)",
       family = "poisson"),
  list(id = "glmer_dotted_group", formula = "total.fruits ~ Solar.R + (1 | plant.id)",
       family = "poisson"),
  list(id = "glmer_factor_response", formula = "resp ~ x + (1 | g)", family = "binomial")
)

one_glm <- function(s) {
  m <- glm(as.formula(s$formula), family = s$family, data = fr)
  c(s, list(call = "glm", coef_names = as.list(names(coef(m))), coef = as.list(unname(coef(m))),
            se = as.list(unname(sqrt(diag(vcov(m))))), loglik = as.numeric(logLik(m)),
            nobs = nobs(m)))
}
one_glmer <- function(s) {
  m <- glmer(as.formula(s$formula), family = s$family, data = fr,
             control = glmerControl(optimizer = "bobyqa"))
  fe <- fixef(m)
  c(s, list(call = "glmer", coef_names = as.list(names(fe)), coef = as.list(unname(fe)),
            theta = as.list(unname(getME(m, "theta"))), loglik = as.numeric(logLik(m)),
            nobs = nobs(m), ngroups = as.list(ngrps(m))))
}

out <- list(
  generated_by = "tests/r/formula_syntax_reference.R",
  versions = session_versions(c("stats", "lme4")),
  data = "data/formula_syntax.csv",
  factors = factors,
  fits = c(lapply(glm_fits, one_glm), lapply(glmer_fits, one_glmer))
)
write_json_file(out, file.path(here, "formula_syntax_reference.json"))
