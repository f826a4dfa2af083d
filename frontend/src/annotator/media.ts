// One candidate's media, shown as its modality deserves. Each view reports load
// failures through `onBroken`, and exposes play/replay/zoom for the keyboard.

import { h } from "../dom";
import type { MediaPayload } from "../types";
import { openZoom } from "./zoom";

export interface MediaView {
  element: HTMLElement;
  togglePlay(): void;
  replay(): void;
  zoom(): void;
  stop(): void;
  view3d?(): void; // point clouds: the interactive three.js view
}

export function mediaView(media: MediaPayload, label: string, onBroken: () => void, compact = false): MediaView {
  switch (media.modality) {
    case "image":
      return imageView(media, label, onBroken);
    case "video":
      return videoView(media, label, onBroken, compact);
    case "audio":
      return audioView(media, label, onBroken);
    case "point_cloud":
      return pointCloudView(media, label, onBroken, compact);
    default:
      return imageView(media, label, onBroken);
  }
}

const noop = () => {};

function imageView(media: MediaPayload, label: string, onBroken: () => void): MediaView {
  const img = h("img", { src: media.media_url, alt: label, loading: "eager", decoding: "async" });
  img.addEventListener("error", onBroken, { once: true });
  const zoom = () => openZoom([media.media_url], label);
  const button = h("button", { class: "media-box zoomable", type: "button", title: "Zoom (Z)", onclick: zoom }, img);
  return { element: button, togglePlay: noop, replay: noop, zoom, stop: noop };
}

function videoView(media: MediaPayload, label: string, onBroken: () => void, compact: boolean): MediaView {
  // The preview is a short muted clip the pipeline cut; the original stays one click away.
  const video = h("video", {
    src: media.preview || media.media_url,
    poster: media.poster || false,
    muted: true,
    loop: true,
    playsInline: true,
    preload: "metadata",
    controls: !compact,
    "aria-label": label,
  });
  video.muted = true;
  video.addEventListener("error", onBroken, { once: true });
  video.addEventListener("mouseenter", () => void video.play().catch(noop));
  video.addEventListener("mouseleave", () => video.pause());
  const box = h("div", { class: "media-box" }, video);
  return {
    element: box,
    togglePlay: () => (video.paused ? void video.play().catch(noop) : video.pause()),
    replay: () => {
      video.currentTime = 0;
      void video.play().catch(noop);
    },
    zoom: () => void video.requestFullscreen?.().catch(noop),
    stop: () => video.pause(),
  };
}

function audioView(media: MediaPayload, label: string, onBroken: () => void): MediaView {
  const audio = h("audio", { src: media.media_url, controls: true, preload: "metadata", "aria-label": label });
  audio.addEventListener("error", onBroken, { once: true });
  const wave = media.waveform
    ? h("img", { class: "waveform", src: media.waveform, alt: `waveform of ${label}` })
    : h("div", { class: "waveform placeholder", "aria-hidden": "true" }, "♪");
  const box = h("div", { class: "media-box audio" }, wave, audio);
  return {
    element: box,
    togglePlay: () => (audio.paused ? void audio.play().catch(noop) : audio.pause()),
    replay: () => {
      audio.currentTime = 0;
      void audio.play().catch(noop);
    },
    zoom: noop,
    stop: () => audio.pause(),
  };
}

function pointCloudView(media: MediaPayload, label: string, onBroken: () => void, compact: boolean): MediaView {
  const views = media.renders?.views ?? [];
  const sheet = media.renders?.sheet;
  const zoomUrls = sheet ? [sheet, ...views] : views;
  const zoom = () => (zoomUrls.length ? openZoom(zoomUrls, label) : undefined);
  let element: HTMLElement;
  if (views.length) {
    const shown = compact ? views.slice(0, 1) : views.slice(0, 6);
    const grid = h("div", { class: `view-grid n${shown.length}` },
      shown.map((url, i) => {
        const img = h("img", { src: url, alt: `${label}, view ${i + 1}` });
        img.addEventListener("error", onBroken, { once: true });
        return img;
      }));
    element = h("button", { class: "media-box zoomable", type: "button", title: "All views (Z)", onclick: zoom }, grid);
  } else if (sheet) {
    const img = h("img", { src: sheet, alt: `${label}, contact sheet` });
    img.addEventListener("error", onBroken, { once: true });
    element = h("button", { class: "media-box zoomable", type: "button", title: "Zoom (Z)", onclick: zoom }, img);
  } else {
    element = h("div", { class: "media-box placeholder" }, "No renders for this point cloud yet.");
  }
  if (compact) return { element, togglePlay: noop, replay: noop, zoom, stop: noop };
  // The interactive view loads three.js on demand (V, or the button).
  const open3d = () => void import("./cloud-viewer").then((m) => m.openCloudViewer(media.renders?.points ?? media.media_url, label));
  const wrapper = h("div", { class: "cloud-wrap" }, element,
    h("button", { type: "button", class: "link", onclick: open3d }, "Interactive 3D view ", h("kbd", {}, "V")));
  return { element: wrapper, togglePlay: noop, replay: noop, zoom, stop: noop, view3d: open3d };
}
