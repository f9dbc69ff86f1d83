// The page is one more client of the HTTP API (/docs): every answer comes from the server.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function unwrap(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: fall through with the status line
  }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail
      : body && Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ")
      : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail);
  }
  return body;
}

export async function getJSON(url) {
  return unwrap(await fetch(url, { headers: { Accept: "application/json" } }));
}

export async function postJSON(url, body, signal) {
  return unwrap(await fetch(url, {
    method: "POST", signal,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  }));
}

// Requests that may overlap (a newer digit, member or slider value): only the newest one's answer,
// or error, counts. run() resolves to the answer, or to null when a newer request superseded it
// or it failed (onError has then been told, if it was still the newest).
export class Newest {
  constructor() {
    this.seq = 0;
  }

  async run(request, onError) {
    const seq = ++this.seq;
    try {
      const doc = await request();
      return seq === this.seq ? doc : null;
    } catch (err) {
      if (seq === this.seq) onError(err);
      return null;
    }
  }
}

// files: [{blob, name}] -> the JSON document of POST /api/vote (members, class_names, images[]),
// with each member's probabilities and the 28x28 network input (base64 PNG) in every row (in
// every digit of a row for mode "number": each image holds a number, read digit by digit).
export async function vote(files, signal, mode = "digit") {
  const form = new FormData();
  for (const { blob, name } of files) form.append("files", blob, name);
  return unwrap(await fetch(`/api/vote?probs=true&image=true&mode=${encodeURIComponent(mode)}`,
    { method: "POST", body: form, signal }));
}
