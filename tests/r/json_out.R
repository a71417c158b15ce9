## Minimal JSON writer with full double precision ("%.17g"), shared by the
## reference scripts in tests/r/.  jsonlite (1.8.4) rounds doubles to 15
## significant digits, which is not enough to store reference values that the
## Python tests compare to 1e-6 .. 1e-10 relative.
##
## Rules: a NAMED atomic vector becomes an object, an unnamed atomic vector of
## length 1 a scalar, a longer one an array; wrap with as.list() to force an
## array.  Named lists become objects, unnamed lists arrays.  NA/NaN/Inf -> null.

json_quote <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  s <- gsub("\t", "\\\\t", s)
  paste0("\"", s, "\"")
}

json_scalar <- function(v) {
  if (is.na(v)) return("null")
  if (is.logical(v)) return(if (v) "true" else "false")
  if (is.numeric(v)) {
    if (!is.finite(v)) return("null")
    if (is.integer(v)) return(sprintf("%d", v))
    return(sprintf("%.17g", v))
  }
  json_quote(as.character(v))
}

to_json <- function(x, indent = 0) {
  pad <- strrep("  ", indent + 1)
  end <- strrep("  ", indent)
  if (is.null(x)) return("null")
  if (is.factor(x)) x <- as.character(x)
  if (is.list(x)) {
    nm <- names(x)
    if (length(x) == 0) return(if (is.null(nm)) "[]" else "{}")
    items <- vapply(x, to_json, "", indent = indent + 1)
    if (!is.null(nm)) {
      items <- paste0(json_quote(nm), ": ", items)
      return(paste0("{\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "}"))
    }
    return(paste0("[\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "]"))
  }
  nm <- names(x)
  items <- vapply(seq_along(x), function(i) json_scalar(x[[i]]), "")
  if (!is.null(nm)) {
    if (length(x) == 0) return("{}")
    return(paste0("{", paste(paste0(json_quote(nm), ": ", items), collapse = ", "), "}"))
  }
  if (length(x) == 1) return(items)
  paste0("[", paste(items, collapse = ", "), "]")
}

write_json_file <- function(x, path) {
  writeLines(to_json(x), path, useBytes = TRUE)
}

session_versions <- function(pkgs) {
  v <- list(R = R.version.string)
  for (p in pkgs) v[[p]] <- as.character(utils::packageVersion(p))
  v
}
