// The interactive 3D view of a point cloud, on demand: three.js is loaded only when an
// annotator opens it (a separate chunk), and reads the cloud's .npy (N × 3+, float32/64).

import { h } from "../dom";

/** Parse a NumPy .npy file into xyz triples (extra columns, e.g. colours, are dropped). */
export function parseNpy(buffer: ArrayBuffer): Float32Array {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.slice(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new Error("not an .npy file");
  const view = new DataView(buffer);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (major === 1 ? 10 : 12) + headerLength;
  const header = new TextDecoder().decode(bytes.slice(major === 1 ? 10 : 12, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error("Fortran-ordered arrays are not supported");
  const [rows, columns = 1] = shape;
  if (columns < 3) throw new Error(`expected N × 3 points, got shape (${shape.join(", ")})`);
  let values: Float32Array | Float64Array;
  if (descr === "<f4") values = new Float32Array(buffer.slice(start, start + rows * columns * 4));
  else if (descr === "<f8") values = new Float64Array(buffer.slice(start, start + rows * columns * 8));
  else throw new Error(`unsupported dtype ${descr}`);
  const xyz = new Float32Array(rows * 3);
  for (let i = 0; i < rows; i++) for (let j = 0; j < 3; j++) xyz[i * 3 + j] = values[i * columns + j];
  return xyz;
}

/** Open a modal with an orbitable view of the cloud at `url`. */
export async function openCloudViewer(url: string, label: string): Promise<void> {
  const previous = document.activeElement as HTMLElement | null;
  const status = h("p", { class: "muted" }, "Loading the point cloud…");
  const stage = h("div", { class: "cloud-stage" });
  let stop = () => {};
  let closed = false;
  const close = () => {
    closed = true;
    stop();
    dialog.close();
    dialog.remove();
    previous?.focus();
  };
  const dialog = h("dialog", { class: "zoom cloud", "aria-label": `3D view: ${label}` }, stage,
    h("div", { class: "zoom-bar" }, status, h("button", { type: "button", onclick: close }, "Close (Esc)")));
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  dialog.addEventListener("keydown", (event) => event.stopPropagation());
  document.body.appendChild(dialog);
  dialog.showModal();
  try {
    const [three, controlsModule, response] = await Promise.all([
      import("three"), import("three/examples/jsm/controls/OrbitControls.js"), fetch(url)]);
    if (!response.ok) throw new Error(`the file answered ${response.status}`);
    const buffer = await response.arrayBuffer();
    // Closed while loading: build nothing, or a WebGL context and its render loop would
    // run on the detached canvas for as long as the page lives.
    if (closed) return;
    const points = parseNpy(buffer);
    const geometry = new three.BufferGeometry();
    geometry.setAttribute("position", new three.BufferAttribute(points, 3));
    geometry.computeBoundingSphere();
    const sphere = geometry.boundingSphere!;
    geometry.translate(-sphere.center.x, -sphere.center.y, -sphere.center.z);
    const scene = new three.Scene();
    scene.background = new three.Color("#f6f8fa");
    const material = new three.PointsMaterial({ color: "#0b57d0", size: sphere.radius / 150 });
    scene.add(new three.Points(geometry, material));
    const width = Math.min(900, window.innerWidth * 0.85), height = Math.min(620, window.innerHeight * 0.75);
    const camera = new three.PerspectiveCamera(45, width / height, sphere.radius / 100, sphere.radius * 20);
    camera.position.set(sphere.radius * 1.6, sphere.radius * 1.2, sphere.radius * 2.2);
    const renderer = new three.WebGLRenderer({ antialias: true });
    renderer.setSize(width, height);
    stage.appendChild(renderer.domElement);
    const controls = new controlsModule.OrbitControls(camera, renderer.domElement);
    controls.autoRotate = true; // until the annotator drags
    controls.addEventListener("start", () => (controls.autoRotate = false));
    renderer.setAnimationLoop(() => {
      controls.update();
      renderer.render(scene, camera);
    });
    stop = () => {
      renderer.setAnimationLoop(null);
      renderer.dispose();
      geometry.dispose();
    };
    status.textContent = `${points.length / 3} points · drag to turn, scroll to zoom`;
  } catch (error) {
    status.textContent = `The 3D view could not be shown: ${error instanceof Error ? error.message : error}`;
    status.className = "error";
  }
}
