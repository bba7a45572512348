// What every page's script needs from the server: JSON from the API, the page's CSRF token, and its messages
// shown as they are meant.

export async function apiGet(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error?.message || `The server answered ${response.status}.`);
  return body;
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

// A message from the server into an element: `code` spans become <code>, never Markdown shown raw; errors look like
// errors (and replace what was there).
export function showMessage(element, text, { error = false } = {}) {
  const parts = String(text).split("`");
  element.replaceChildren(...parts.map((part, index) => {
    if (index % 2 === 0) return document.createTextNode(part);
    const code = document.createElement("code");
    code.textContent = part;
    return code;
  }));
  element.classList.toggle("error-message", error);
}

// A change sent as JSON with the page's CSRF token; the answer's JSON (or null for 204).
export async function apiSend(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error?.message || `The server answered ${response.status}.`);
  return answer;
}
