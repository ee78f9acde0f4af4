// In-page confirmation (a Bootstrap modal, templates/includes/confirm_modal.html) for destructive actions,
// instead of the browser's confirm(). Put the question on the submit button (or on the form):
//   data-confirm="Remove {contacts} from this group?"    the question; {contacts} → "1 contact" / "5 contacts"
//   data-confirm-count="selected" | "42"                  how many: the checked [data-bulk-item] of the form, or a number
//   data-confirm-title="Remove members"                  the modal's title (default "Are you sure?")
//   data-confirm-button="Remove {contacts}"               the confirm button's text (default the submit button's)
// Confirming submits the form with the same button, so its name/value are sent as before.

const contacts = (n) => `${n.toLocaleString()} contact${n === 1 ? "" : "s"}`;

function countFor(source, form) {
  const spec = source.dataset.confirmCount;
  if (spec === "selected") return form.querySelectorAll("[data-bulk-item]:checked").length;
  const number = Number.parseInt(spec, 10);
  return Number.isNaN(number) ? null : number;
}

function fill(template, count) {
  return count === null ? template : template.replaceAll("{contacts}", contacts(count)).replaceAll("{count}", count.toLocaleString());
}

export function initConfirm() {
  const modalElement = document.getElementById("confirm-modal");
  if (!modalElement || modalElement.dataset.ready || typeof window.bootstrap === "undefined") return;
  modalElement.dataset.ready = "1";
  const modal = window.bootstrap.Modal.getOrCreateInstance(modalElement);
  const title = modalElement.querySelector("[data-confirm-title]");
  const body = modalElement.querySelector("[data-confirm-body]");
  const ok = modalElement.querySelector("[data-confirm-ok]");
  let pending = null;

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const submitter = event.submitter || null;
    const source = submitter && submitter.dataset.confirm !== undefined ? submitter : form;
    if (source.dataset.confirm === undefined) return;
    if (form.dataset.confirmed) { delete form.dataset.confirmed; return; }
    event.preventDefault();
    const count = countFor(source, form);
    title.textContent = fill(source.dataset.confirmTitle || "Are you sure?", count);
    body.textContent = fill(source.dataset.confirm, count);
    ok.textContent = fill(source.dataset.confirmButton || (submitter ? submitter.textContent.trim() : "") || "Confirm", count);
    pending = { form, submitter };
    modal.show();
  });
  ok.addEventListener("click", () => {
    if (!pending) return;
    const { form, submitter } = pending;
    pending = null;
    form.dataset.confirmed = "1";
    modal.hide();
    form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
  });
  modalElement.addEventListener("shown.bs.modal", () => ok.focus());
  modalElement.addEventListener("hidden.bs.modal", () => { pending = null; });
}
