import { h, mount } from "../dom";
export async function adminProjects(root: HTMLElement): Promise<void> { mount(root, h("h1", {}, "Projects")); }
