// Upvote without a page reload; without JavaScript the same form posts and redirects back.
// (The form has an input named "action", which shadows form.action: read the attribute.)
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("form.vote-form")) return;
  event.preventDefault();
  try {
    const response = await fetch(form.getAttribute("action"), {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
    const state = await response.json();
    document.querySelectorAll(`form.vote-form[data-paper="${CSS.escape(state.id)}"]`).forEach((widget) => {
      widget.querySelector(".count").textContent = state.upvotes;
      widget.querySelector("button").setAttribute("aria-pressed", state.voted ? "true" : "false");
      widget.querySelector("input[name=action]").value = state.voted ? "remove" : "up";
    });
  } catch (error) {
    form.submit();
  }
});
