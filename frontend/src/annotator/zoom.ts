// A modal for looking closely at images (and a point cloud's views). Esc or click closes it.

import { h } from "../dom";

export function openZoom(urls: string[], label: string): void {
  const previous = document.activeElement as HTMLElement | null;
  let index = 0;
  const img = h("img", { src: urls[0], alt: label });
  const counter = h("span", { class: "muted" });
  const show = (i: number) => {
    index = (i + urls.length) % urls.length;
    img.src = urls[index];
    counter.textContent = urls.length > 1 ? `${index + 1} / ${urls.length} (← → to browse)` : "";
  };
  const close = () => {
    dialog.close();
    dialog.remove();
    previous?.focus();
  };
  const dialog = h("dialog", { class: "zoom", "aria-label": `Zoomed: ${label}` },
    img,
    h("div", { class: "zoom-bar" }, counter, h("button", { type: "button", onclick: close }, "Close (Esc)")));
  dialog.addEventListener("click", (event) => event.target === dialog && close());
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  dialog.addEventListener("keydown", (event) => {
    event.stopPropagation(); // the rating screen's shortcuts wait until the zoom closes
    if (event.key === "ArrowRight") show(index + 1);
    if (event.key === "ArrowLeft") show(index - 1);
    if (event.key.toLowerCase() === "z") close();
  });
  document.body.appendChild(dialog);
  show(0);
  dialog.showModal();
}
