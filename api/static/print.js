// The orientation sheet's print button (no inline script: the pages' Content-Security-Policy allows only the app's files).
document.querySelectorAll("[data-print]").forEach((button) => button.addEventListener("click", () => window.print()));
