"""Templates, stylesheet and script of the review web page and the final reports."""
