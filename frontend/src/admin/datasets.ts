import { h, mount } from "../dom";
export async function datasetsPage(root: HTMLElement) { mount(root, h("h1", {}, "Datasets")); return {}; }
