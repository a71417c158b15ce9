## Exact CSV export of the data sets the reference scripts fit, shared by the scripts in
## tests/r/ (sourced after json_out.R).  Doubles are written with as many significant digits
## as they need to read back to the same double (15, else 17), NA stays NA, factors are written
## as their labels (their level order goes into the JSON via levels_of()).

exact_chr <- function(x) {
  out <- format(x, digits = 15, trim = TRUE)
  bad <- !is.na(x) & as.numeric(out) != x
  out[bad] <- sprintf("%.17g", x[bad])
  out[is.na(x)] <- NA
  out
}

write_exact_csv <- function(d, path) {
  e <- d
  quoted <- which(vapply(e, function(x) is.factor(x) || is.character(x), TRUE))
  for (nm in names(e)) {
    if (is.factor(e[[nm]])) e[[nm]] <- as.character(e[[nm]])
    else if (is.double(e[[nm]])) e[[nm]] <- exact_chr(e[[nm]])
  }
  write.csv(e, path, row.names = FALSE, quote = if (length(quoted)) unname(quoted) else FALSE)
}

## Factor levels in R's order, per factor column (lists, so that JSON keeps one-level factors as arrays).
levels_of <- function(d) lapply(Filter(is.factor, d), function(x) as.list(levels(x)))
