// Keyboard for the review page: 1-9, 0 toggle rubric entries; n / p next / previous student;
// s save and go to the next ungraded answer; c comment; Escape leaves the comment box.
// No network, no libraries: the page works without this file too.
document.addEventListener("keydown", function (event) {
  var target = event.target;
  var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" && target.type !== "checkbox");
  var form = document.getElementById("grade-form");
  if (typing) {
    if (event.key === "Escape") { target.blur(); }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form) {
      event.preventDefault();
      document.getElementById("save-next").click();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) { return; }
  if (form && /^[0-9]$/.test(event.key)) {
    var box = form.querySelector('input[data-key="' + event.key + '"]');
    if (box) { box.checked = !box.checked; event.preventDefault(); }
  } else if (event.key === "n" || event.key === "p") {
    var link = document.getElementById(event.key === "n" ? "next" : "prev");
    if (link) { window.location.href = link.href; }
  } else if (event.key === "s" && form) {
    event.preventDefault();
    document.getElementById("save-next").click();
  } else if (event.key === "c" && form) {
    event.preventDefault();
    document.getElementById("comment").focus();
  } else if (event.key === "/") {
    event.preventDefault();
    document.getElementById("search").focus();
  }
});
