import { h, mount } from "../dom";
export async function projectForm(root: HTMLElement): Promise<void> { mount(root, h("h1", {}, "New project")); }
